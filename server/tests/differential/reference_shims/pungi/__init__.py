"""Lets the reference frontend load its Celery task module, which imports Fedora's Pungi (not
published on PyPI) for the workers' use. The frontend never calls into it; only with Celery
loaded does it cancel waiting composes as production instances do."""
