"""Browser tests: the page in a real headless Chromium."""
