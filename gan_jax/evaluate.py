"""`python -m gan_jax.evaluate --workdir W [--step N | --best] --metrics fd,is,kid,pr`: scores a
checkpoint.

The EMA generator of the checkpoint (default: latest; `--best`: the one the run kept by
`config.eval.best_metric`) in a training workdir, rebuilt from the workdir's config.json.
`--real SPLIT` scores that real split instead of generated samples: the sanity reference papers
quote (e.g. CIFAR-10 test against train).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

import jax
import ml_collections

from gan_jax import data, parallel
from gan_jax.errors import DataError, EvaluateError, MetricInputError, UserError
from gan_jax.metrics import evaluators
from gan_jax.metrics.extractors import EXTRACTORS
from gan_jax.train import seeds
from gan_jax.train.checks import check
from gan_jax.train.run import build_run, restore
from gan_jax.train.samplers import described
from gan_jax.train.state import seed_state


def load_workdir_config(workdir: str) -> ml_collections.ConfigDict:
  """The resolved config a training run wrote into its workdir, checked."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.isfile(path):
    raise EvaluateError(f'{path}: not found; --workdir must be a gan_jax training workdir')
  try:
    with open(path) as f:
      config = check(ml_collections.ConfigDict(json.load(f)))
  except (ValueError, TypeError, KeyError, AttributeError) as e:  # JSONDecodeError is a ValueError.
    reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
    raise EvaluateError(f'{path}: damaged or not a gan_jax config ({reason}); restore it from a '
                        'copy, or rewrite it with the config the run was trained with') from None
  return config


def check_checkpoint_choice(step: int | None, best: bool) -> None:
  """Before anything is read: a step and the best checkpoint are two different choices."""
  if best and step is not None:
    raise EvaluateError('--step and --best: give one of them')


def evaluate(workdir: str, metrics: list[str], step: int | None = None, extractor: str = '',
             num_samples: int = 10_000, real_split: str = '', real: str = '',
             inception_weights: str = '', direction: str = '', best: bool = False
             ) -> tuple[int | None, dict[str, float], dict[str, str]]:
  """(step, scalars, protocol texts) of `metrics` on the workdir's checkpoint at `step` (or its
  best one), or on the real split `real`; `direction` (ab or ba) picks the translation of a
  two-domain (CycleGAN) run. Everything is checked before the checkpoint is read or anything
  compiles."""
  check_checkpoint_choice(step, best)
  for m in metrics:
    if m not in evaluators.METRICS:
      raise EvaluateError(f"--metrics: unknown metric {m!r}; known: {sorted(evaluators.METRICS)} "
                          "(FID is 'fd' with the inception extractor)")
    if num_samples < evaluators.METRICS[m].min_samples:
      raise EvaluateError(f'--num_samples: {m} needs at least {evaluators.METRICS[m].min_samples}, '
                          f'got {num_samples}')
  config = load_workdir_config(workdir)
  default_extractor = next((e.extractor for e in evaluators.entries(config).values()), 'inception')
  config.eval.inception_weights = inception_weights or config.eval.inception_weights
  config.evals = ml_collections.ConfigDict({
      m: dict(metric=m, every=1, num_samples=num_samples, extractor=extractor or default_extractor,
              real_split=real_split, direction=direction) for m in metrics})
  config.eval.best_metric = ''  # Training's choice; nothing is kept here.
  config = check(config)  # Metric names, extractor, sample counts.

  run = build_run(config, checked=True)  # Checked with the evaluators just above.
  dataset, family, nets = run.dataset, run.family, run.nets
  kind = family.sample_kind(config, nets, dataset)
  if not kind.is_image_data:
    raise EvaluateError(f'{workdir} trained on toy data ({config.dataset.name}); its mode metrics '
                        'are in metrics.jsonl')
  evaluators.check(config, kind._replace(conditional=kind.conditional or bool(real)))
  mesh = parallel.make_mesh()
  quality = evaluators.Evaluators(config, kind, mesh)
  results, texts = {}, {}
  if real:
    try:
      images, labels, source = data.real_images(config, real, num_samples, direction[1:])
    except (DataError, MetricInputError) as e:
      raise EvaluateError(f'--real {real}: {e}') from None
    for name in quality.entries:
      # Real images are their own targets.
      samples = evaluators.Samples(images, labels, targets=images, targets_of=source)
      r, t = quality.score(name, samples, f'real images of {source}')
      results.update(r)
      texts.update(t)
    return None, results, texts

  checkpoints = os.path.join(workdir, 'best' if best else 'checkpoints')
  state = parallel.replicate(restore(checkpoints, config, run.state, step, 'evaluate', best), mesh)
  step = int(state.step)
  run_seeds = seeds.run_seeds(config)  # A num_seeds run: every seed, then their mean.
  per_seed = []
  for i, seed in enumerate(run_seeds):
    sampler = family.evaluation_sampler(seeds.seed_config(config, seed), nets, dataset, mesh)
    what = described(config, step, sampler.what, getattr(sampler, 'who', None))
    seed_run = seed_state(state, i) if len(run_seeds) > 1 else state
    per_seed.append(quality.with_seed(seed)(sampler(seed_run), list(quality.entries), what))
  return (step, seeds.summarize([r for r, _ in per_seed], run_seeds),
          seeds.summarize_texts([t for _, t in per_seed], run_seeds))


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m gan_jax.evaluate', description=__doc__)
  parser.add_argument('--workdir', required=True)
  parser.add_argument('--step', type=int, default=None, help='checkpoint step (default: latest)')
  parser.add_argument('--best', action='store_true',
                      help='the checkpoint the run kept by config.eval.best_metric (workdir/best)')
  parser.add_argument('--metrics', default='fd,is,kid,pr',
                      help=f'comma-separated, of {",".join(evaluators.METRICS)}')
  parser.add_argument('--extractor', default='', choices=('',) + EXTRACTORS,
                      help="default: the workdir config's evaluators' extractor, else inception")
  parser.add_argument('--num_samples', type=int, default=10_000)
  parser.add_argument('--real_split', default='',
                      help='reference split (default: the training one); translation: the split '
                      'of the held-out sources and their targets (default: dataset.test_split)')
  parser.add_argument('--real', default='', help='score this real split instead of samples')
  parser.add_argument('--inception_weights', default='')
  parser.add_argument('--direction', default='', choices=('', 'ab', 'ba'),
                      help='two-domain (CycleGAN) runs: score the A->B or the B->A translations')
  args = parser.parse_args(argv)
  try:
    step, results, texts = evaluate(
        args.workdir, [m for m in args.metrics.split(',') if m], args.step, args.extractor,
        args.num_samples, args.real_split, args.real, args.inception_weights, args.direction,
        args.best)
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  what = f'real split {args.real}' if args.real else f'{"best, " * args.best}step {step}'
  print(f'{args.workdir} ({what}):')
  for key, value in results.items():
    if not key.endswith('_num_samples'):
      print(f'  {key.removeprefix("eval/"):24s} {value:.6g}')
  for text in texts.values():
    print(f'  - {text}')
  tag = ('real_' + re.sub(r'[^A-Za-z0-9_.-]+', '_', args.real) if args.real else
         f'{"best_" * args.best}{step}')
  tag = f'{tag}_{args.direction}' if args.direction else tag
  out = os.path.join(args.workdir, f'evaluate_{tag}.json')
  if jax.process_index() == 0:
    with open(out, 'w') as f:
      json.dump({'step': step, 'real': args.real or None, **results, **texts}, f, indent=1,
                default=float)
    print(f'written: {out}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
