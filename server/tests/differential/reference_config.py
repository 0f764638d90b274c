# The reference ODCS 0.9.2 frontend configured as the differential test configures ours (see
# test_reference_parity.py): the same users, groups, arches, lifetimes and raw config names.
import json
import os

_SHARED = json.loads(os.environ["REFERENCE_SHARED_CONFIG"])


class ProdConfiguration(object):
    SQLALCHEMY_DATABASE_URI = os.environ["REFERENCE_DATABASE_URI"]
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    AUTH_BACKEND = "kerberos"
    AUTH_LDAP_SERVER = os.environ["REFERENCE_LDAP_SERVER"]
    AUTH_LDAP_GROUPS = [("ou=groups,dc=example,dc=com", "(memberUid={})")]
    TARGET_DIR = os.environ["REFERENCE_TARGET_DIR"]
    TARGET_DIR_URL = _SHARED["target_dir_url"]
    SIGKEYS = _SHARED["sigkeys"]
    ARCHES = _SHARED["arches"]
    SECONDS_TO_LIVE = _SHARED["seconds_to_live"]
    MAX_SECONDS_TO_LIVE = _SHARED["max_seconds_to_live"]
    RAW_CONFIG_URLS = _SHARED["raw_config_urls"]
    ALLOWED_CLIENTS = _SHARED["allowed_clients"]
    ADMINS = _SHARED["admins"]
    PUNGI_CONF_PATH = os.environ["REFERENCE_PUNGI_CONF"]
    # Jobs go to a broker (a vhost of its own nobody consumes), as in production: only then
    # does the reference cancel waiting composes.
    CELERY_BROKER_URL = os.environ["REFERENCE_BROKER_URL"]
    LOG_LEVEL = "warning"
    LOG_BACKEND = "console"
