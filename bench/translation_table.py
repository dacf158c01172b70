"""The table of a translation or super-resolution experiment: its evaluators' values for trained
runs (read from their metrics.jsonl at a step) beside baselines scored by the same evaluator code
on the same held-out pairs: copying the input, bicubic and nearest upsampling (super-resolution),
and the real targets themselves (for two unpaired domains: in each evaluator's direction).

  python bench/translation_table.py --config experiments/srgan_cifar.py:srresnet \\
      --run 'SRResNet=runs/srresnet@5000' --run 'SRGAN=runs/srgan@5000' [--data_dir DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gan_jax.errors import UserError  # noqa: E402
from gan_jax.metrics import baselines, evaluators  # noqa: E402


def load_config(spec: str):
  path, _, arg = spec.partition(':')
  if not os.path.isfile(path):
    raise UserError(f'--config: no such file: {path}')
  module_spec = importlib.util.spec_from_file_location('experiment', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None)


def run_row(workdir: str, step: int, keys: list[str]) -> dict[str, float]:
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rows = {r['step']: r for r in map(json.loads, f)}
  if step not in rows:
    raise UserError(f'--run {workdir}@{step}: no row for step {step} in its metrics.jsonl')
  return {k: rows[step].get(k, float('nan')) for k in keys}


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--config', required=True, help='experiments/NAME.py[:variant]')
  parser.add_argument('--run', action='append', default=[], help='LABEL=WORKDIR@STEP')
  parser.add_argument('--data_dir', default='')
  args = parser.parse_args()
  try:
    config = load_config(args.config)
    if args.data_dir:
      config.dataset.data_dir = args.data_dir
    count = max(e.num_samples for e in evaluators.entries(config).values())
    keys = baselines.metric_names(config)
    rows = {}
    for run in args.run:
      label, _, spec = run.partition('=')
      workdir, _, step = spec.rpartition('@')
      if not (label and workdir and step.isdigit()):
        raise UserError(f'--run {run!r}: expected LABEL=WORKDIR@STEP')
      if not os.path.isfile(os.path.join(workdir, 'metrics.jsonl')):
        raise UserError(f'--run {run!r}: no metrics.jsonl in {workdir}')
      rows[label] = run_row(workdir, int(step), keys)
    rows.update(baselines.score_baselines(config))
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  names = [k.removeprefix('eval/') for k in keys]
  print(f'{args.config}: {count} held-out pairs of {config.dataset.name}:'
        f'{config.dataset.test_split}')
  print('| | ' + ' | '.join(names) + ' |')
  print('|---' * (len(names) + 1) + '|')
  for label, values in rows.items():
    print(f'| {label} | ' + ' | '.join(f'{values[k]:.4g}' for k in keys) + ' |')
  return 0


if __name__ == '__main__':
  sys.exit(main())
