# The README's two commands: `make train` and `make test`. Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: train test convergence install clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(BIN)/snntrain train --model models/default.toml

test: $(STAMP)
	$(BIN)/python -m pytest -q -ra tests

convergence: $(STAMP)
	$(BIN)/snntrain convergence

clean:
	rm -rf $(VENV) build *.egg-info
