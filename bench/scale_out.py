"""What running through several processes and through a sweep costs, on one machine: prints one
table.

- The step time of an experiment (median of the `steps_per_sec` it logs after its first log) as
  one process with 2 devices, and as 2 processes (`launch.py --distributed`, gloo) of 1 device,
  the same global batch.
- A sweep's overhead per trial: a 2-trial `launch.py --sweep` of the toy grid's `runlocal`
  sweep, with 1 and with 2 processes per trial, against the same runs launched alone.

  python bench/scale_out.py [--config experiments/dcgan_mnist.py:runlocal] [--steps 200] [--data_dir D]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env(devices: int) -> dict[str, str]:
  return dict(os.environ, XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}')


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _launch(args: list[str], workdir: str, processes: int, devices: int) -> float:
  """Wall seconds of `launch.py` with `args` as `processes` processes of `devices` devices."""
  command = [sys.executable, 'launch.py', *args, '--workdir', workdir]
  if processes > 1:
    command += ['--distributed', '--coordinator_address', f'localhost:{_free_port()}',
                '--num_processes', str(processes)]
  start = time.perf_counter()
  runs = [subprocess.Popen(command + (['--process_id', str(i)] if processes > 1 else []),
                           cwd=ROOT, env=_env(devices), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True) for i in range(processes)]
  outputs = [p.communicate()[0] for p in runs]
  seconds = time.perf_counter() - start
  for i, (p, out) in enumerate(zip(runs, outputs)):
    if p.returncode:
      log = os.path.join(tempfile.gettempdir(), f'scale_out_failure_{i}.log')
      with open(log, 'w') as f:
        f.write(out)
      sys.exit(f'error: {" ".join(command)} failed (exit {p.returncode}); its output: {log}')
  return seconds


def _median_step_seconds(workdir: str) -> float:
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rates = [r['steps_per_sec'] for r in map(json.loads, f) if 'steps_per_sec' in r]
  rates = sorted(rates[1:] or rates)  # The first logged rate includes the compile.
  return 1.0 / rates[len(rates) // 2]


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--config', default='experiments/dcgan_mnist.py:runlocal')
  parser.add_argument('--steps', type=int, default=200)
  parser.add_argument('--batch_size', type=int, default=64)
  parser.add_argument('--data_dir', default='', help="tfds data directory ('' = tfds's default)")
  args = parser.parse_args()
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    step_args = ['--config', args.config, f'--config.num_steps={args.steps}',
                 f'--config.batch_size={args.batch_size}', '--config.log_every=20',
                 f'--config.eval_every={args.steps}', f'--config.checkpoint_every={args.steps}']
    if args.data_dir:
      step_args.append(f'--config.dataset.data_dir={args.data_dir}')
    for processes, devices in ((1, 2), (2, 1), (1, 2), (2, 1)):  # alternating, twice
      workdir = os.path.join(tmp, f'step_{processes}_{len(rows)}')
      wall = _launch(step_args, workdir, processes, devices)
      rows.append((f'{args.config}, batch {args.batch_size}', f'{processes} x {devices}',
                   f'{1e3 * _median_step_seconds(workdir):.1f} ms/step', f'{wall:.1f}'))

    toy = ['--config', 'experiments/gan_grid.py:runlocal']
    for workers in (1, 2):
      alone = [_launch(toy + ['--config.pack=' + str(pack)],
                       os.path.join(tmp, f'alone_{workers}_{pack}'), workers, 1)
               for pack in (1, 2)]
      sweep_dir = os.path.join(tmp, f'sweep_{workers}')
      wall = _launch(toy + ['--sweep', '--trial_workers', str(workers),
                            '--max_concurrent_trials', '1'], sweep_dir, 1, 1)
      trials = []
      tune_dir = os.path.join(sweep_dir, 'tune')
      for name in sorted(os.listdir(tune_dir)):
        result = os.path.join(tune_dir, name, 'result.json')
        if os.path.exists(result):
          with open(result) as f:
            trials.append([json.loads(line) for line in f][-1]['time_total_s'])
      rows.append(('toy grid runlocal, alone', f'{workers} x 1',
                   f'{sum(alone) / 2:.1f} s per run', f'{sum(alone):.1f}'))
      rows.append(('toy grid runlocal, 2-trial sweep', f'{workers} x 1 per trial',
                   f'{sum(trials) / len(trials):.1f} s per trial (Tune\'s time_total_s)',
                   f'{wall:.1f}'))
  print(f'Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
        f'Python {platform.python_version()}')
  print('| what | processes x devices | time | wall (s) |\n|---|---|---|---|')
  for row in rows:
    print('| ' + ' | '.join(row) + ' |')
  return 0


if __name__ == '__main__':
  sys.exit(main())
