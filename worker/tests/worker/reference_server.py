"""Loads one module of the reference ODCS server (odcs 0.9.2 from PyPI) on its own, for the
check scripts that run the reference's lookup code against a service. Its server modules
import the rest of the server package (Flask app, database) only for a configuration, a
logger and small helpers; those are provided here so the module's own code runs unchanged."""

import importlib.util
import logging
import sys
import types


def retry(wait_on=Exception, logger=None, timeout=60, interval=1):
    """The reference's retry decorator, without its waits: three tries."""

    def decorator(function):
        def wrapped(*args, **kwargs):
            for attempt in range(3):
                try:
                    return function(*args, **kwargs)
                except wait_on:
                    if attempt == 2:
                        raise

        return wrapped

    return decorator


def load_reference(path, name):
    """Loads the reference's `odcs/server/{name}.py` at `path` as `odcs.server.{name}`."""
    server = types.ModuleType("odcs.server")
    server.log = logging.getLogger("odcs")
    server.conf = types.SimpleNamespace(net_timeout=30)
    utils = types.ModuleType("odcs.server.utils")
    utils.retry = retry
    utils.to_text_type = lambda s: s.decode("utf-8") if isinstance(s, bytes) else s
    server.utils = utils
    sys.modules["odcs"] = types.ModuleType("odcs")
    sys.modules["odcs.server"] = server
    sys.modules["odcs.server.utils"] = utils
    spec = importlib.util.spec_from_file_location(f"odcs.server.{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
