# The reference ODCS 0.9.2 as the adoption test runs it: only what its migrations and models
# need, pointed at the test's database and directories.
import json
import os


class ProdConfiguration(object):
    SQLALCHEMY_DATABASE_URI = os.environ["REFERENCE_DATABASE_URI"]
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    AUTH_BACKEND = "noauth"
    LOG_LEVEL = "warning"
    LOG_BACKEND = "console"
    HOST = "127.0.0.1"
    PORT = 5005
    TARGET_DIR = os.environ["REFERENCE_TARGET_DIR"]
    TARGET_DIR_URL = os.environ["REFERENCE_TARGET_DIR_URL"]
    EXTRA_TARGET_DIRS = json.loads(os.environ["REFERENCE_EXTRA_TARGET_DIRS"])
    PUNGI_CONF_PATH = os.environ["REFERENCE_PUNGI_CONF"]
