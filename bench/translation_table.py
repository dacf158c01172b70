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

import jax  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax import data  # noqa: E402
from gan_jax.errors import UserError  # noqa: E402
from gan_jax.metrics import evaluators  # noqa: E402


def load_config(spec: str):
  path, _, arg = spec.partition(':')
  if not os.path.isfile(path):
    raise UserError(f'--config: no such file: {path}')
  module_spec = importlib.util.spec_from_file_location('experiment', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None)


def baselines(config, count: int, direction: str = '') -> tuple[dict[str, np.ndarray], np.ndarray]:
  """Outputs of the baselines for the first `count` held-out sources (of `direction`, for two
  unpaired domains), and the sources' labels."""
  c = config.copy_and_resolve_references()
  c.dataset.split, c.batch_size, c.n_critic = c.dataset.test_split, 1, 1
  dataset = data.build_on_one_process(c)
  pairs = dataset.first(count, direction) if direction else dataset.first(count)
  source, target = pairs['source'], pairs['target']
  out = {'real targets': target}
  if source.shape[1:3] == target.shape[1:3]:  # Translation: the input as its own output.
    out['copy the input'] = (np.repeat(source, target.shape[-1], -1)
                             if source.shape[-1] != target.shape[-1] else source)
  else:
    for method in ('bicubic', 'nearest'):
      up = jax.image.resize(source, (len(source),) + target.shape[1:], method)
      out[f'{method} upsampling'] = np.clip(np.asarray(up), -1, 1)
  return out, pairs['label']


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
    quality = evaluators.Evaluators(config, 10, None)
    count = max(e.num_samples for e in quality.entries.values())
    keys = [f'eval/{k}' for n, e in quality.entries.items()
            for k in evaluators.metric_keys(e.metric, e.extractor, e.direction)
            if not k.endswith('_std')]
    rows = {}
    for run in args.run:
      label, _, spec = run.partition('=')
      workdir, _, step = spec.rpartition('@')
      if not (label and workdir and step.isdigit()):
        raise UserError(f'--run {run!r}: expected LABEL=WORKDIR@STEP')
      if not os.path.isfile(os.path.join(workdir, 'metrics.jsonl')):
        raise UserError(f'--run {run!r}: no metrics.jsonl in {workdir}')
      rows[label] = run_row(workdir, int(step), keys)
    outputs = {d: baselines(config, count, d)
               for d in sorted({e.direction for e in quality.entries.values()})}
    for label in dict.fromkeys(b for images, _ in outputs.values() for b in images):
      values = {}
      for name, e in quality.entries.items():
        images, labels = outputs[e.direction]
        if label in images:
          values.update(quality.score(name, images[label][:e.num_samples],
                                      labels[:e.num_samples], label)[0])
      rows[label] = {k: values.get(k, float('nan')) for k in keys}
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
