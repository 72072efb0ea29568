"""Gunicorn settings for the API; the port comes from ``MRIMESH_PORT`` like everything else."""

from mrimesh.config import Settings
from mrimesh.proc import die_with_parent

_settings = Settings.from_env()

bind = f"{_settings.bind_host}:{_settings.port}"
# Threads serve the 2 s polls cheaply; uploads stream to disk, so a slow client holds one thread.
worker_class = "gthread"
workers = _settings.api_workers
threads = 8
timeout = 120
# Keep idle connections longer than the page's 2 s poll, so a poll never races the close.
keepalive = 5
graceful_timeout = 20
accesslog = "-"
# Log the path only: the query string never carries ids, and bodies are never logged.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
# No runtime control socket: it defaults to one path under $HOME shared by every gunicorn on the
# machine (tests run several), and nothing here uses gunicornc.
control_socket_disable = True


def post_fork(server, worker) -> None:
    """A worker dies with its master: a killed master leaves no worker holding the port."""
    die_with_parent(server.pid)
