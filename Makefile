# Every target bootstraps .venv by itself: a fresh box needs only Python 3.11, pip and gcc.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Test workers (pytest-xdist): the suite mostly waits on sockets, subprocesses and rate
# limits, so four workers on two cores keep both busy (each starts its own embedded
# PostgreSQL); work stealing keeps the long end-to-end tests from forming a tail.
WORKERS ?= 4
# A PostgreSQL's bin dir for test-warehouse (Debian: /usr/lib/postgresql/VERSION/bin).
PGBIN ?= /usr/lib/postgresql/15/bin
SOAK_MINUTES ?= 10
# Line rows of the big warehouse in bench-growth (GROWTH_LINES=2000000 for a quick try).
GROWTH_LINES ?= 20000000

.PHONY: demo test test-warehouse lint bench bench-growth soak simulate clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/syncd demo

test: $(STAMP)
	$(BIN)/pytest -q -n $(WORKERS) --dist worksteal

# The warehouse tests (marker `warehouse`) against a throw-away server from $(PGBIN).
test-warehouse: $(STAMP)
	bash .ci/with-postgres $(PGBIN) $(BIN)/pytest -q -n $(WORKERS) --dist worksteal -m warehouse

lint: $(STAMP)
	$(BIN)/ruff check syncd syncd_simulator tests bench
	$(BIN)/mypy syncd syncd_simulator
	$(BIN)/lint-imports --no-cache

# Every benchmark prints its figures beside their targets; a missed target fails the target
# at the end (all of them run first). The 20 M-row warehouse is bench-growth's alone.
bench: $(STAMP)
	@fail=0; for b in limiter load backfill firstrun cloudonex; do \
		echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py || fail=1; done; exit $$fail

# Minutes (about 10 on 2 shared cores): a hot month into an empty warehouse and into one
# of GROWTH_LINES line rows (bench/growth.py).
bench-growth: $(STAMP)
	$(BIN)/python bench/growth.py --lines $(GROWTH_LINES)

# Long: `syncd run` for SOAK_MINUTES against a changing, faulty simulator (bench/soak.py).
soak: $(STAMP)
	$(BIN)/python bench/soak.py --minutes $(SOAK_MINUTES)

simulate: $(STAMP)
	$(BIN)/syncd simulate --port 8765

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
