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

# pytorch-fid and its torch, for the Inception parity test: `make test` installs it and requires it.
$(VENV)/.parity: $(VENV)/.installed
	$(PY) -m pip install -q -c requirements.lock -e '.[parity]'
	touch $@

demo: install
	$(PY) launch.py --config experiments/gan_grid.py:demo --workdir $(WORKDIR)

# Two workers: most tests wait on single-threaded XLA compiles, so 2 cores run two at once.
test: install $(VENV)/.parity
	GAN_JAX_REQUIRE_PARITY=1 $(PY) -m pytest -q -n 2 --dist worksteal tests

# dcgan_speed's baseline is torch 2.13.0, which cannot sit beside the parity extra's torchvision.
bench: install $(VENV)/.parity
	$(PY) bench/pacgan_modes.py --protocol short
	$(PY) bench/inception_speed.py
	$(PY) bench/conv_grads.py
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install -q -c requirements.lock -e '.[bench]'
	.venv-bench/bin/python bench/dcgan_speed.py

clean:
	rm -rf $(VENV) .venv-bench runs
