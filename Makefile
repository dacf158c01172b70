# Set-up and entry points. `make demo` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/demo

.PHONY: install demo test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e '.[test]'
	touch $@

demo: install
	$(PY) launch.py --config experiments/gan_grid.py:demo --workdir $(WORKDIR)

test: install
	$(PY) -m pytest -q tests

bench: install
	$(PY) -m pip install -q -c requirements.lock -e '.[bench]'
	$(PY) bench/pacgan_modes.py --protocol short
	$(PY) bench/dcgan_speed.py

clean:
	rm -rf $(VENV) runs
