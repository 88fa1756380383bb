# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit install system-deps clean

# Programs the integration tests drive for real: Prometheus (scrapes the self-metrics) and
# Chromium (the UI tests). Installed with apt-get when missing and when we may.
SYSTEM_PROGRAMS := /usr/bin/prometheus /usr/bin/chromium
SYSTEM_PACKAGES := prometheus chromium

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Installing compiles the wire codec's hot modules (hatch_build.py): an edited codec module is
# compiled again by the next `make` (until then otlpy runs its source, never the stale build).
$(STAMP): pyproject.toml hatch_build.py $(wildcard src/otlpy/wire/*.py) | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	$(VENV)/bin/otlpy version
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/otlpy run $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks hatch_build.py
	$(VENV)/bin/ruff format --check src tests benchmarks hatch_build.py

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP) system-deps
	$(PY) -m coverage erase
	COVERAGE_PROCESS_START=$(CURDIR)/pyproject.toml $(PY) -m pytest -n 2 --dist loadgroup --cov --cov-report= $(PYTEST_ARGS)
	# the codec's compiled modules once more as their Python source, which coverage can see
	OTLPY_PURE_PYTHON=1 $(PY) -m pytest -n 2 -q --cov --cov-append --cov-report= tests/wire --ignore=tests/wire/test_compiled.py
	$(PY) -m coverage combine --append --quiet || true
	$(PY) -m coverage report

system-deps:
	@missing=""; for p in $(SYSTEM_PROGRAMS); do [ -x $$p ] || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; \
		else \
			echo "missing$$missing: the tests that need them will be skipped"; \
		fi; \
	fi

test: system-deps lint typecheck unit

clean:
	rm -rf $(VENV) .coverage .coverage.* .mypy_cache .ruff_cache .pytest_cache
	find src -name '*.so' -delete
