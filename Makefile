# The README's two commands: `make train` and `make test`. Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: train test bench convergence reproduce install clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(BIN)/snntrain train --model models/default.toml

test: $(STAMP)
	$(BIN)/python -m pytest -q -ra --durations=10 tests

# The standard benchmark set (snntrain bench reports, never asserts); on 2 CPU cores it takes several minutes.
bench: $(STAMP)
	$(BIN)/snntrain bench --model models/ttfs.toml
	$(BIN)/snntrain bench --model models/fashion.toml --set training.batch_size=50
	$(BIN)/snntrain bench --model models/ttfs.toml --sweep neurons
	$(BIN)/snntrain bench --model models/ttfs.toml --sweep batch
	$(BIN)/snntrain bench --model models/count.toml --sweep spikes
	$(BIN)/snntrain bench --model models/count.toml --sweep layers

convergence: $(STAMP)
	$(BIN)/snntrain convergence

# The reference configurations on every downloaded dataset, 3 seeds each, to their full schedules (hours on 2
# cores; rerun to resume). Table: runs/reproduce-full/results.md.
reproduce: $(STAMP)
	$(BIN)/snntrain reproduce

clean:
	rm -rf $(VENV) build *.egg-info
