# Two commands a new user needs:  `make run` (pipeline on the built-in data)  `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BIN    := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)

.PHONY: install run test lint clean-venv

install: $(STAMP)

# Re-installs only when the dependency list or the lock changes.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e '.[test]'
	touch $@

run:
	@git rev-parse --git-dir >/dev/null 2>&1 || { echo "make run needs a git checkout (dvc uses git)"; exit 1; }
	@$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) install
	dvc repro
	@echo "outputs: data/ (dvc status; dvc plots show; mlflow ui)"

test: install
	$(PY) -m ruff check src pipeline tests benchmarks
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check src pipeline tests benchmarks

clean-venv:
	rm -rf $(VENV)
