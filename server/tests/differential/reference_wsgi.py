"""The reference ODCS frontend as httpd would run it behind mod_auth_gssapi: the user the
authenticating proxy vouches for (here the `X-Remote-User` header, as our `proxy` backend takes
it) becomes the WSGI `REMOTE_USER`. Served by gunicorn for the differential test."""

from odcs.server import app as odcs_app


def app(environ, start_response):
    user = environ.pop("HTTP_X_REMOTE_USER", None)
    if user:
        environ["REMOTE_USER"] = user
    return odcs_app(environ, start_response)
