"""The `kerberos` backends: the server accepts SPNEGO (`Authorization: Negotiate`) tokens with
its own keytab. A real MIT KDC (Debian `krb5-kdc`) runs a throwaway realm for the module; users
get tickets with `kinit`; the reference client (`AuthMech.Kerberos`, requests-gssapi) and our
`odcs` CLI (a ticket cache, or a keytab) authenticate; groups come from a real `slapd`."""

import base64
import os
import shutil
import subprocess
import tempfile

import gssapi
import pytest
import requests
from odcs.client.odcs import ODCS, AuthMech

from conftest import Server, Slapd, free_port, wait_for_port
from test_ssl_auth import pki  # noqa: F401 (the throwaway certificate authority fixture)

REALM = "ODCS.TEST"
SERVICE = f"HTTP/127.0.0.1@{REALM}"
TAG_COMPOSE = {"source": {"type": "tag", "source": "f40"}, "arches": ["x86_64"]}
ODCS_CLI = os.path.join(os.environ.get("ODCS_BIN_DIR", ""), "odcs")

KRB5_CONF = """[libdefaults]
  default_realm = {realm}
  dns_lookup_kdc = false
  dns_lookup_realm = false
  dns_canonicalize_hostname = false
  rdns = false
  udp_preference_limit = 1
[realms]
  {realm} = {{
    kdc = 127.0.0.1:{port}
  }}
[domain_realm]
  127.0.0.1 = {realm}
"""

KDC_CONF = """[kdcdefaults]
  kdc_listen = 127.0.0.1:{port}
  kdc_tcp_listen = 127.0.0.1:{port}
[realms]
  {realm} = {{
    database_name = {directory}/principal
    key_stash_file = {directory}/stash
    acl_file = {directory}/kadm5.acl
    max_life = 1h
  }}
[logging]
  kdc = FILE:{directory}/kdc.log
"""


class Kdc:
    """A running MIT KDC with users (passwords), a robot (keytab) and the service's keytab."""

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="odcs-kdc-")
        self.port = free_port()
        self.krb5_conf = os.path.join(self.directory, "krb5.conf")
        with open(self.krb5_conf, "w") as f:
            f.write(KRB5_CONF.format(realm=REALM, port=self.port))
        kdc_conf = os.path.join(self.directory, "kdc.conf")
        with open(kdc_conf, "w") as f:
            f.write(KDC_CONF.format(realm=REALM, port=self.port, directory=self.directory))
        open(os.path.join(self.directory, "kadm5.acl"), "w").close()
        self.env = dict(os.environ, KRB5_CONFIG=self.krb5_conf, KRB5_KDC_PROFILE=kdc_conf)
        self.run("kdb5_util", "create", "-s", "-r", REALM, "-P", "master-password")
        for user in ("alice", "boss", "carol", "dave"):
            self.admin(f"addprinc -pw {user}-password {user}")
        self.service_keytab = self.keytab("HTTP/127.0.0.1")
        self.other_keytab = self.keytab("HTTP/elsewhere.example.com")
        self.robot_keytab = self.keytab("robot")
        self.proc = subprocess.Popen(["krb5kdc", "-n", "-r", REALM], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def run(self, *args, stdin=None):
        subprocess.run(args, env=self.env, check=True, capture_output=True, input=stdin, text=True)

    def admin(self, query):
        self.run("kadmin.local", "-r", REALM, "-q", query)

    def keytab(self, principal):
        path = os.path.join(self.directory, principal.replace("/", "_") + ".keytab")
        self.admin(f"addprinc -randkey {principal}")
        self.admin(f"ktadd -k {path} {principal}")
        return path

    def kinit(self, user):
        """A ticket cache holding `user`'s TGT (password login, as a person would)."""
        cache = f"FILE:{self.directory}/{user}.ccache"
        self.run("kinit", "-c", cache, user, stdin=f"{user}-password\n")
        return cache

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="module")
def kdc():
    kdc = Kdc()
    previous = os.environ.get("KRB5_CONFIG")
    os.environ["KRB5_CONFIG"] = kdc.krb5_conf
    yield kdc
    if previous is None:
        del os.environ["KRB5_CONFIG"]
    else:
        os.environ["KRB5_CONFIG"] = previous
    kdc.stop()


@pytest.fixture(scope="module")
def slapd():
    """LDAP groups `releng` and `packagers` with carol, as her principal's user name."""
    with Slapd("carol") as url:
        yield url


def start_server(backend, keytab, ldap_server=None, principal=SERVICE, extra="", ca=None):
    workdir = tempfile.mkdtemp(prefix="odcs-pytest-")
    ldap = ""
    if ldap_server:
        ldap = f"""
auth_ldap_server = "{ldap_server}"
auth_ldap_groups = [["ou=groups,dc=example,dc=com", "(memberUid={{}})"]]
"""
    config = f"""
auth_backend = "{backend}"
auth_kerberos_keytab = "{keytab}"
auth_kerberos_principal = "{principal}"
auth_realms = ["{REALM}"]
{ldap}{extra}
allowed_clients = {{users = {{alice = {{source_types = ["tag"]}}, robot = {{source_types = ["tag"]}}}}, groups = {{releng = {{source_types = ["tag"]}}}}}}
admins = {{users = ["boss"], groups = ["packagers"]}}
"""
    return Server("sqlite", workdir, extra_config=config, ca=ca)


@pytest.fixture(scope="module")
def krb_server(kdc, slapd):
    srv = start_server("kerberos", kdc.service_keytab, slapd)
    yield srv
    srv.stop()
    shutil.rmtree(srv.workdir, ignore_errors=True)


def as_user(kdc, monkeypatch, user):
    monkeypatch.setenv("KRB5CCNAME", kdc.kinit(user))


def kerberos_client(server):
    return ODCS(server.url, auth_mech=AuthMech.Kerberos)


def anonymous(server):
    return ODCS(server.url, auth_mech=AuthMech.Anonymous)


def negotiate_token(target="HTTP@127.0.0.1"):
    """A SPNEGO token for `target` from the current ticket cache, as a browser would send."""
    name = gssapi.Name(target, gssapi.NameType.hostbased_service)
    mech = gssapi.Mechanism.from_sasl_name("SPNEGO")
    context = gssapi.SecurityContext(name=name, mech=mech, usage="initiate")
    return base64.b64encode(context.step()).decode()


def test_a_ticket_holder_is_the_user_and_gets_a_mutual_token(krb_server, kdc, monkeypatch):
    assert anonymous(krb_server).about()["auth_backend"] == "kerberos"
    as_user(kdc, monkeypatch, "alice")
    compose = kerberos_client(krb_server).new_compose("f40", "tag", arches=["x86_64"])
    assert compose["owner"] == "alice"

    # The server authenticates itself back: its answer completes the client's context.
    name = gssapi.Name("HTTP@127.0.0.1", gssapi.NameType.hostbased_service)
    context = gssapi.SecurityContext(name=name, mech=gssapi.Mechanism.from_sasl_name("SPNEGO"),
                                     usage="initiate",
                                     flags=gssapi.RequirementFlag.mutual_authentication)
    token = base64.b64encode(context.step()).decode()
    reply = requests.post(krb_server.url + "api/1/composes/",
                          json=TAG_COMPOSE,
                          headers={"Authorization": f"Negotiate {token}"})
    assert reply.status_code == 200, reply.text
    challenge = reply.headers["WWW-Authenticate"]
    assert challenge.startswith("Negotiate ")
    context.step(base64.b64decode(challenge.split(" ", 1)[1]))
    assert context.complete

    # Alice's rule allows tag composes only; the admin removes what she cannot.
    with pytest.raises(requests.HTTPError) as err:
        kerberos_client(krb_server).new_compose("/srv/repo", "repo")
    assert err.value.response.status_code == 403
    krb_server.execute(f"UPDATE composes SET state = 2 WHERE id = {compose['id']}")
    with pytest.raises(requests.HTTPError) as err:
        kerberos_client(krb_server).delete_compose(compose["id"])
    assert err.value.response.status_code == 403
    as_user(kdc, monkeypatch, "boss")
    kerberos_client(krb_server).delete_compose(compose["id"])
    assert anonymous(krb_server).get_compose(compose["id"])["removed_by"] == "boss"


def test_without_a_ticket_reads_only_and_is_challenged(krb_server):
    assert "items" in anonymous(krb_server).find_composes()
    reply = requests.post(krb_server.url + "api/1/composes/",
                          json=TAG_COMPOSE,
                          headers={"X-Remote-User": "boss"})
    assert reply.status_code == 401, reply.text
    assert reply.headers["WWW-Authenticate"] == "Negotiate"
    assert reply.json()["error"] == "Unauthorized"


def test_forged_and_foreign_tokens_are_refused(krb_server, kdc, monkeypatch):
    forged = base64.b64encode(b"\x60\x82\x01\x00not a kerberos token").decode()
    for header in (f"Negotiate {forged}", "Negotiate !!not-base64!!"):
        reply = requests.post(krb_server.url + "api/1/composes/",
                              json=TAG_COMPOSE,
                              headers={"Authorization": header})
        assert reply.status_code == 401, reply.text
        assert "Kerberos authentication failed" in reply.json()["message"]
        assert reply.headers["WWW-Authenticate"] == "Negotiate"
    # A real ticket, but for another service: the server has no key for it.
    as_user(kdc, monkeypatch, "alice")
    token = negotiate_token("HTTP@elsewhere.example.com")
    reply = requests.post(krb_server.url + "api/1/composes/",
                          json=TAG_COMPOSE,
                          headers={"Authorization": f"Negotiate {token}"})
    assert reply.status_code == 401, reply.text


def test_ldap_groups_grant_what_the_group_may(krb_server, kdc, monkeypatch):
    as_user(kdc, monkeypatch, "alice")
    alices = kerberos_client(krb_server).new_compose("f40", "tag", arches=["x86_64"])
    as_user(kdc, monkeypatch, "carol")
    assert kerberos_client(krb_server).new_compose("f40", "tag", arches=["x86_64"])["owner"] == "carol"
    # Carol is in packagers, an admin group: she may remove Alice's compose.
    krb_server.execute(f"UPDATE composes SET state = 2 WHERE id = {alices['id']}")
    kerberos_client(krb_server).delete_compose(alices["id"])
    assert anonymous(krb_server).get_compose(alices["id"])["removed_by"] == "carol"
    as_user(kdc, monkeypatch, "dave")
    with pytest.raises(requests.HTTPError) as err:
        kerberos_client(krb_server).new_compose("f40", "tag", arches=["x86_64"])
    assert err.value.response.status_code == 403
    assert err.value.response.json()["message"] == "User dave is not in role allowed_clients."


def test_our_cli_authenticates_with_a_ticket_or_a_keytab(krb_server, kdc):
    def odcs(*login):
        return [ODCS_CLI, "--server", krb_server.url, *login, "--no-wait", "--json",
                "create-tag", "f40", "--arch", "x86_64"]

    env = dict(os.environ, KRB5CCNAME=kdc.kinit("alice"), HOME=kdc.directory)
    done = subprocess.run(odcs("--kerberos"), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '"owner": "alice"' in done.stdout

    # A robot without a ticket cache logs in with its keytab.
    env = dict(os.environ, KRB5CCNAME=f"FILE:{kdc.directory}/robot.ccache", HOME=kdc.directory)
    login = ["--keytab", kdc.robot_keytab, "--principal", f"robot@{REALM}"]
    done = subprocess.run(odcs(*login), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '"owner": "robot"' in done.stdout

    # No ticket at all: one readable line, non-zero exit.
    env = dict(os.environ, KRB5CCNAME=f"FILE:{kdc.directory}/nobody.ccache", HOME=kdc.directory)
    done = subprocess.run(odcs("--kerberos"), env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Kerberos" in done.stderr


def test_a_server_without_the_service_key_refuses_to_start(kdc):
    with pytest.raises(RuntimeError) as err:
        start_server("kerberos", kdc.other_keytab)
    log = str(err.value).split("see ", 1)[1]
    with open(log) as f:
        assert "Kerberos" in f.read()


def test_oidc_or_kerberos_takes_either_and_challenges_for_both(kdc, monkeypatch):
    extra = f"""
auth_openidc_issuer = "http://127.0.0.1:{free_port()}/"
auth_openidc_audience = "odcs"
"""
    srv = start_server("oidc_or_kerberos", kdc.service_keytab, extra=extra)
    try:
        reply = requests.post(srv.url + "api/1/composes/", json=TAG_COMPOSE)
        assert reply.status_code == 401
        assert reply.headers["WWW-Authenticate"] == 'Bearer realm="ODCS", Negotiate'
        as_user(kdc, monkeypatch, "alice")
        assert kerberos_client(srv).new_compose("f40", "tag", arches=["x86_64"])["owner"] == "alice"
        # A bearer token goes to the OpenID provider (down here), never to Kerberos.
        reply = requests.post(srv.url + "api/1/composes/", json=TAG_COMPOSE,
                              headers={"Authorization": "Bearer abc.def.ghi"})
        assert reply.status_code in (401, 503), reply.text
    finally:
        srv.stop()
        shutil.rmtree(srv.workdir, ignore_errors=True)


def test_kerberos_or_ssl_takes_a_ticket_or_a_certificate(kdc, pki, monkeypatch):  # noqa: F811
    directory, certs = pki
    ca = os.path.join(directory, "ca.pem")
    cert, key = certs["server"]
    tls = f"""
tls_cert = "{cert}"
tls_key = "{key}"
tls_client_ca = "{ca}"
"""
    srv = start_server("kerberos_or_ssl", kdc.service_keytab, extra=tls, ca=ca)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca)
    try:
        as_user(kdc, monkeypatch, "alice")
        assert kerberos_client(srv).new_compose("f40", "tag", arches=["x86_64"])["owner"] == "alice"
        # Without a ticket, the certificate's subject is the user (who has no rule here).
        boss_cert = ODCS(srv.url, auth_mech=AuthMech.SSL, ssl_cert=certs["boss"][0],
                         ssl_key=certs["boss"][1])
        with pytest.raises(requests.HTTPError) as err:
            boss_cert.new_compose("f40", "tag", arches=["x86_64"])
        assert err.value.response.status_code == 403
        assert err.value.response.json()["message"] == (
            "User CN=boss,O=Example is not in role allowed_clients."
        )
        # Neither: challenged to negotiate; identity headers mean nothing.
        reply = requests.post(srv.url + "api/1/composes/", json=TAG_COMPOSE,
                              headers={"X-Remote-User": "boss"})
        assert reply.status_code == 401, reply.text
        assert reply.headers["WWW-Authenticate"] == "Negotiate"
    finally:
        srv.stop()
        shutil.rmtree(srv.workdir, ignore_errors=True)
