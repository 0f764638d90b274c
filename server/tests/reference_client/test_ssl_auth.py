"""The `ssl` backend: the server serves HTTPS itself and takes the subject of a client
certificate it verified as the user, driven by the reference client's `AuthMech.SSL`, with
certificates from a throwaway authority made by openssl; the users' groups come from a real
OpenLDAP `slapd` (Debian) started for the module."""

import os
import shutil
import subprocess
import tempfile

import pytest
import requests
from odcs.client.odcs import ODCS, AuthMech, ComposeSourceTag

from conftest import Server, Slapd, free_port

ALICE = "CN=alice,OU=Builds,O=Example"
BOSS = "CN=boss,O=Example"
CAROL = "CN=carol,O=Example"


@pytest.fixture(scope="module")
def slapd():
    """A real OpenLDAP server on loopback with groups for Carol."""
    with Slapd(CAROL) as url:
        yield url


def openssl(directory, *args):
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)


def authority(directory, name):
    openssl(directory, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.pem")


def issue(directory, ca, name, subject, extension):
    with open(os.path.join(directory, f"{name}.ext"), "w") as f:
        f.write(extension)
    openssl(directory, "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
            "-keyout", f"{name}.key", "-out", f"{name}.csr")
    openssl(directory, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey",
            f"{ca}.key", "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
            "-out", f"{name}.pem")
    return os.path.join(directory, f"{name}.pem"), os.path.join(directory, f"{name}.key")


@pytest.fixture(scope="module")
def pki():
    directory = tempfile.mkdtemp(prefix="odcs-pki-")
    authority(directory, "ca")
    authority(directory, "other-ca")
    certs = {
        "server": issue(directory, "ca", "server", "/CN=127.0.0.1",
                        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        "alice": issue(directory, "ca", "alice", "/O=Example/OU=Builds/CN=alice",
                       "extendedKeyUsage=clientAuth\n"),
        "boss": issue(directory, "ca", "boss", "/O=Example/CN=boss",
                      "extendedKeyUsage=clientAuth\n"),
        "stranger": issue(directory, "other-ca", "stranger", "/O=Example/CN=alice",
                          "extendedKeyUsage=clientAuth\n"),
        "carol": issue(directory, "ca", "carol", "/O=Example/CN=carol",
                       "extendedKeyUsage=clientAuth\n"),
        "dave": issue(directory, "ca", "dave", "/O=Example/CN=dave",
                      "extendedKeyUsage=clientAuth\n"),
    }
    yield directory, certs
    shutil.rmtree(directory, ignore_errors=True)


def start_ssl_server(pki, ldap_server, ldap_tls=""):
    directory, certs = pki
    workdir = tempfile.mkdtemp(prefix="odcs-pytest-")
    cert, key = certs["server"]
    extra = f"""
auth_backend = "ssl"
tls_cert = "{cert}"
tls_key = "{key}"
tls_client_ca = "{directory}/ca.pem"
auth_ldap_server = "{ldap_server}"
auth_ldap_groups = [["ou=groups,dc=example,dc=com", "(memberUid={{}})"]]
auth_ldap_timeout_seconds = 2
{ldap_tls}
allowed_clients = {{users = {{"{ALICE}" = {{source_types = ["tag"]}}}}, groups = {{releng = {{source_types = ["tag"]}}}}}}
admins = {{users = ["{BOSS}"]}}
"""
    return Server("sqlite", workdir, extra_config=extra, ca=os.path.join(directory, "ca.pem"))


@pytest.fixture(scope="module")
def ssl_server(pki, slapd):
    srv = start_ssl_server(pki, slapd)
    yield srv
    srv.stop()
    shutil.rmtree(srv.workdir, ignore_errors=True)


@pytest.fixture
def trust(pki, monkeypatch):
    directory, _ = pki
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", os.path.join(directory, "ca.pem"))


def client(server, cert=None):
    if cert is None:
        return ODCS(server.url, auth_mech=AuthMech.Anonymous)
    return ODCS(server.url, auth_mech=AuthMech.SSL, ssl_cert=cert[0], ssl_key=cert[1])


def test_the_certificate_subject_is_the_user(ssl_server, pki, trust):
    _, certs = pki
    assert client(ssl_server).about()["auth_backend"] == "ssl"
    compose = client(ssl_server, certs["alice"]).new_compose("f40", "tag", arches=["x86_64"])
    assert compose["owner"] == ALICE

    # Alice's rule allows tag composes only.
    with pytest.raises(requests.HTTPError) as err:
        client(ssl_server, certs["alice"]).new_compose("/srv/repo", "repo")
    assert err.value.response.status_code == 403

    # The admin's certificate removes what Alice cannot.
    ssl_server.execute(f"UPDATE composes SET state = 2 WHERE id = {compose['id']}")
    with pytest.raises(requests.HTTPError) as err:
        client(ssl_server, certs["alice"]).delete_compose(compose["id"])
    assert err.value.response.status_code == 403
    client(ssl_server, certs["boss"]).delete_compose(compose["id"])
    assert client(ssl_server).get_compose(compose["id"])["removed_by"] == BOSS


def test_without_a_certificate_reads_only(ssl_server, trust):
    anonymous = client(ssl_server)
    assert "items" in anonymous.find_composes()
    with pytest.raises(requests.HTTPError) as err:
        anonymous.new_compose("f40", "tag")
    assert err.value.response.status_code == 401
    # Identity headers mean nothing to the ssl backend, whoever sends them.
    reply = requests.post(
        ssl_server.url + "api/1/composes/",
        json={"source": {"type": "tag", "source": "f40"}},
        headers={"X-Remote-User": BOSS, "X-Remote-Groups": "releng"},
    )
    assert reply.status_code == 401, reply.text


def test_a_certificate_from_another_authority_is_refused(ssl_server, pki, trust):
    _, certs = pki
    with pytest.raises(requests.exceptions.SSLError):
        client(ssl_server, certs["stranger"]).new_compose("f40", "tag")


def test_ldap_groups_grant_what_the_group_may(ssl_server, pki, trust):
    _, certs = pki
    compose = client(ssl_server, certs["carol"]).new_compose("f40", "tag", arches=["x86_64"])
    assert compose["owner"] == CAROL
    # Dave is in no LDAP group and has no rule of his own.
    with pytest.raises(requests.HTTPError) as err:
        client(ssl_server, certs["dave"]).new_compose("f40", "tag", arches=["x86_64"])
    assert err.value.response.status_code == 403
    assert err.value.response.json()["message"] == "User CN=dave,O=Example is not in role allowed_clients."


def test_ldap_down_means_no_groups_not_a_failed_request(pki, trust):
    srv = start_ssl_server(pki, f"ldap://127.0.0.1:{free_port()}/")
    try:
        _, certs = pki
        with pytest.raises(requests.HTTPError) as err:
            client(srv, certs["carol"]).new_compose("f40", "tag", arches=["x86_64"])
        assert err.value.response.status_code == 403
        assert "not in role allowed_clients" in err.value.response.json()["message"]
        # Users with rules of their own are served as usual.
        assert client(srv, certs["alice"]).new_compose("f40", "tag", arches=["x86_64"])["owner"] == ALICE
    finally:
        srv.stop()
        shutil.rmtree(srv.workdir, ignore_errors=True)


def test_ldap_over_tls_checks_the_directory_certificate(pki, trust):
    directory, certs = pki
    slapd = Slapd(CAROL, tls=certs["server"])
    with slapd as plain_url:
        cases = [
            (slapd.ldaps_url, f'auth_ldap_ca_cert = "{directory}/ca.pem"', 200),
            (plain_url, f'auth_ldap_ca_cert = "{directory}/ca.pem"\nauth_ldap_starttls = true', 200),
            # A directory whose certificate the configured authorities did not sign gives no groups.
            (slapd.ldaps_url, f'auth_ldap_ca_cert = "{directory}/other-ca.pem"', 403),
        ]
        for url, tls, status in cases:
            srv = start_ssl_server(pki, url, tls)
            try:
                reply = requests.post(srv.url + "api/1/composes/", cert=certs["carol"],
                                      json={"source": {"type": "tag", "source": "f40"},
                                            "arches": ["x86_64"]})
                assert reply.status_code == status, (url, tls, reply.text)
            finally:
                srv.stop()
                shutil.rmtree(srv.workdir, ignore_errors=True)
