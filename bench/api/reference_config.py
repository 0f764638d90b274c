# Configuration of the reference ODCS 0.9.2 frontend for the side-by-side benchmark.
import os


class ProdConfiguration(object):
    SQLALCHEMY_DATABASE_URI = os.environ["REFERENCE_DATABASE_URI"]
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    AUTH_BACKEND = "noauth"
    TARGET_DIR = "/srv/odcs"
    TARGET_DIR_URL = "http://odcs.example.com/composes"
    LOG_LEVEL = "warning"
    LOG_BACKEND = "console"
    PUNGI_CONF_PATH = os.environ["REFERENCE_PUNGI_CONF"]
