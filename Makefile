# Two commands on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	PATH="$(abspath $(VENV))/bin:$$PATH" examples/demo.sh

lint: install
	$(PY) -m ruff check src tests bench
	$(PY) -m ruff format --check src tests bench

test: lint
	$(PY) -m pytest -q --durations=15

bench: install
	$(PY) bench/ingest.py
	$(PY) bench/jobs.py
	$(PY) bench/train.py
	$(PY) bench/serve.py

clean:
	rm -rf $(VENV) build .pytest_cache
