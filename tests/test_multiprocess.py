"""Two processes, as two hosts of a slice: `launch.py --distributed` on each, 4 CPU devices per
process, every process reading its own share of the data. The final state equals a 1-process
run of the same global batch on 8 devices."""

import os
import socket
import subprocess
import sys

import jax
import numpy as np

from conftest import ROOT, subprocess_env
from experiments import gan_grid
from gan_jax.train import train_and_evaluate

OVERRIDES = {'batch_size': 64, 'num_steps': 4, 'log_every': 1, 'checkpoint_every': 2,
             'eval_every': 2}


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def test_two_processes_equal_one(tmp_path):
  from test_train import read_state
  port, workdir = _free_port(), str(tmp_path / 'two')
  env = subprocess_env(4)
  # The best checkpoint too: at an evaluation step two orbax managers save, each finishing
  # through cross-process barriers (they once collided and hung the run at its end).
  command = [sys.executable, 'launch.py', '--config', 'experiments/gan_grid.py:runlocal',
             '--workdir', workdir, '--distributed', '--coordinator_address', f'localhost:{port}',
             '--num_processes', '2', '--config.eval.best_metric=modes_covered'] + [
                 f'--config.{k}={v}' for k, v in OVERRIDES.items()]
  processes = [subprocess.Popen(command + ['--process_id', str(i)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for i in range(2)]
  outputs = [p.communicate(timeout=240)[0] for p in processes]
  for p, out in zip(processes, outputs):
    assert p.returncode == 0, out[-3000:]
  assert 'final (step 4' in outputs[0] and 'final (step 4' not in outputs[1]  # process 0 reports
  assert os.listdir(os.path.join(workdir, 'best')) and os.path.isfile(
      os.path.join(workdir, 'best.json'))

  config = gan_grid.get_config('runlocal')
  config.update(OVERRIDES)
  train_and_evaluate(config, str(tmp_path / 'one'))  # this process: 8 devices
  one, two = read_state(str(tmp_path / 'one'), config, 4), read_state(workdir, config, 4)
  for (path, a), b in zip(jax.tree.leaves_with_path(one), jax.tree.leaves(two)):
    if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
      a, b = jax.random.key_data(a), jax.random.key_data(b)
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6,
                               err_msg=jax.tree_util.keystr(path))
