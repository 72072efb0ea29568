# The two commands the README names: `make run` starts the whole service, `make test` runs the
# whole suite. Both install what is missing first (scripts/bootstrap.sh).
.PHONY: run test lint format bench

run:
	scripts/bootstrap.sh run
	.venv/bin/python scripts/serve.py

test:
	scripts/bootstrap.sh test
	.venv/bin/ruff check .
	.venv/bin/python -m pytest

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

bench:
	.venv/bin/python bench/pipeline_bench.py
