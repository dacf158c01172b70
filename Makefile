# Set-up and entry points. `make demo` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
# uv installs the locked wheels in seconds where pip takes a minute or more (most of `make demo`).
# It compiles their bytecode as pip does (uv does not by default, and PYTHONDONTWRITEBYTECODE
# stops Python from caching it): each Python process (the demo, and the pytest workers,
# launch.py and Ray's trial actors the tests start) then imports jax, TensorFlow and gan_jax in
# 1.9 s of CPU instead of 4.9 s.
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) -c requirements.lock
WORKDIR ?= runs/demo

.PHONY: install demo test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q uv==$(UV_VERSION)
	$(UV) -e .
	touch $@

# pytest, and TensorFlow: the tests prepare tfds datasets from the original files.
$(VENV)/.test: $(VENV)/.installed
	$(UV) -e '.[test]'
	touch $@

# pytorch-fid and its torch, for the Inception parity test: `make test` installs it and requires it.
$(VENV)/.parity: $(VENV)/.installed
	$(UV) -e '.[parity]'
	touch $@

# Ray Tune for `launch.py --sweep`: `make test` installs it and runs a sweep.
$(VENV)/.sweep: $(VENV)/.installed
	$(UV) -e '.[sweep]'
	touch $@

demo: install
	$(PY) launch.py --config experiments/gan_grid.py:demo --workdir $(WORKDIR)

# Two workers: most tests wait on single-threaded XLA compiles, so 2 cores run two at once.
test: install $(VENV)/.test $(VENV)/.parity $(VENV)/.sweep
	$(PY) -m compileall -q launch.py gan_jax experiments bench tests
	GAN_JAX_REQUIRE_PARITY=1 $(PY) -m pytest -q -n 2 --dist worksteal tests

bench: install $(VENV)/.parity
	$(PY) bench/demo_recipe.py
	$(PY) bench/pacgan_modes.py --protocol short
	$(PY) bench/inception_speed.py
	$(PY) bench/conv_grads.py
	$(PY) bench/dcgan_speed.py

clean:
	rm -rf $(VENV) runs
