# Every target depends on the virtual environment, so a fresh clone needs only python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
PY := $(BIN)/python

.PHONY: venv install schema generate check-generated lint typecheck pytest test demo bench matrix clean

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
	$(BIN)/ruff check src codegen tests bench examples
	$(BIN)/ruff format --check src codegen tests bench examples

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

matrix:  ## demo, drift check and tests on every Python 3.10-3.13 found here (venvs in .matrix/)
	.ci/matrix

clean:
	rm -rf $(VENV) .matrix .mypy_cache .pytest_cache .ruff_cache .hypothesis dist
