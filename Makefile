# Every target bootstraps .venv by itself: a fresh box needs only Python 3.11, pip and gcc.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench simulate clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/syncd demo

test: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check syncd tests bench
	$(BIN)/mypy syncd

bench: $(STAMP)
	$(BIN)/python bench/limiter.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/cloudonex.py

simulate: $(STAMP)
	$(BIN)/syncd simulate --port 8765

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
