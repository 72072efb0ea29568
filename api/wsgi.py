"""The WSGI entry point for gunicorn: ``gunicorn --config api/gunicorn_conf.py api.wsgi:app``."""

from api.app import create_app

app = create_app()
