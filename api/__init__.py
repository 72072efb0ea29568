"""The HTTP API: uploads, job status, downloads, stats and the static page."""
