# Every target depends on the virtual environment, so a fresh clone needs only python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
PY := $(BIN)/python

.PHONY: venv install schema generate check-generated lint typecheck pytest test demo bench interop matrix clean

venv install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,server,cli]'
	touch $(STAMP)

schema: $(STAMP)  ## upstream type files -> schema/types.schema.json (the only networked step)
	$(PY) -m codegen schema

generate: $(STAMP)  ## schema/ -> src/inferencesh/_generated/ (no network)
	$(PY) -m codegen generate

check-generated: $(STAMP)
	$(PY) -m codegen generate --check

lint: $(STAMP)
	$(BIN)/ruff check src codegen tests bench examples interop
	$(BIN)/ruff format --check src codegen tests bench examples interop

typecheck: $(STAMP)
	$(BIN)/mypy src examples codegen
	$(BIN)/pyright src examples codegen

# Four workers on two cores: most tests wait (on servers, subprocesses, streams), not compute.
# pytest exits 5 when it collected no tests: that is a failure here, and it says so.
PYTEST_WORKERS ?= 4

pytest: $(STAMP)
	@$(BIN)/pytest -q -n $(PYTEST_WORKERS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing" >&2; fi; \
	exit $$status

test: lint typecheck check-generated pytest

demo: $(STAMP)
	$(PY) examples/demo.py

# The bench extra (aiohttp, a baseline) is installed here only, never for `make test`.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,server,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) bench/run_all.py

# The official Python SDK (PyPI inferencesh, pinned) in its own environment, driving our runtime
# (served by .venv): run, stream, upload, sessions. Not part of `make test`: it needs the registry.
INTEROP := .interop
INTEROP_SDK ?= inferencesh==0.36.0
INTEROP_STAMP := $(INTEROP)/.installed-stamp

$(INTEROP_STAMP):
	$(PYTHON) -m venv $(INTEROP)
	$(INTEROP)/bin/pip install --quiet --upgrade pip
	$(INTEROP)/bin/pip install --quiet '$(INTEROP_SDK)' aiohttp pytest pytest-asyncio pytest-timeout
	touch $(INTEROP_STAMP)

interop: $(STAMP) $(INTEROP_STAMP)
	INTEROP_RUNTIME_PYTHON=$(abspath $(PY)) $(INTEROP)/bin/pytest -q -c interop/pytest.ini interop

matrix:  ## demo, drift check and tests on every Python 3.10-3.13 found here (venvs in .matrix/)
	.ci/matrix

clean:
	rm -rf $(VENV) $(INTEROP) .matrix .mypy_cache .pytest_cache .ruff_cache .hypothesis dist
