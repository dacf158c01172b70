"""PacGAN Table 1 benchmark: mode coverage of GAN and PacGAN2-4 on the 2-D ring and grid.

Every seed of a cell trains as one program: the seeds' states are stacked and the step is
`vmap`ped over them, and `lax.scan` runs `--chunk` steps per dispatch. Seed s here is the run
`launch.py --config experiments/gan_<data>.py:pack=P,seed=s` would do (same init, data order
and noise), evaluated the same way (2,500 samples, `gan_jax.metrics.mode_metrics`).

  python bench/pacgan_modes.py --protocol short    # 2-core CPU, under 10 minutes
  python bench/pacgan_modes.py --protocol medium   # 2-core CPU, about 40 minutes
  python bench/pacgan_modes.py --protocol full     # 400 epochs, the paper's; wants a GPU
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

from experiments.gan_ring import toy_config  # noqa: E402
from gan_jax import data, metrics  # noqa: E402
from gan_jax.train.families import noise  # noqa: E402
from gan_jax.train.samplers import make_preview_sampler  # noqa: E402
from gan_jax.train.state import create_state  # noqa: E402

# (epochs of the 100,000-point training set, seeds, packs).
PROTOCOLS = {
    'full': (400, 10, '1,2,3,4'),   # the paper's: 400,000 steps per seed; wants a GPU
    'medium': (10, 5, '1,4'),       # about 40 minutes on a 2-core CPU
    'short': (0.5, 10, '1,2,3,4'),  # under 10 minutes on a 2-core CPU; a smoke test of the protocol
}
PUBLISHED = {  # Lin et al. 2018, Table 1: (modes, high quality %, reverse KL), mean ± s.e.
    ('ring', 1): ('6.3 ± 0.5', '98.2 ± 0.2', '0.45 ± 0.09'),
    ('ring', 4): ('7.8 ± 0.1', '95.9 ± 1.4', '0.07 ± 0.02'),
    ('grid', 1): ('17.3 ± 0.8', '94.8 ± 0.7', '0.70 ± 0.07'),
    ('grid', 4): ('24.8 ± 0.2', '93.6 ± 0.6', '0.04 ± 0.01'),
}


def run_cell(dataset_name: str, pack: int, seeds: list[int], epochs: float,
             chunk: int) -> dict:
  """Trains and scores one (dataset, pack) cell over all seeds; returns scores and timings."""
  config = toy_config(dataset_name, f'pack={pack}')
  config.num_steps = int(epochs * config.dataset.num_train // config.batch_size)
  chunk = min(chunk, config.num_steps // 5)  # At least 4 chunks after the first are timed.
  assert config.num_steps % chunk == 0, 'steps must be a multiple of the chunk'
  datasets = []
  for seed in seeds:
    seed_config = config.copy_and_resolve_references()
    seed_config.seed = seed
    datasets.append(data.build(seed_config))
  nets = noise.networks(config, datasets[0])
  keys = jax.vmap(jax.random.key)(np.array(seeds))
  states = jax.jit(jax.vmap(lambda k: create_state(config, nets, k)))(keys)

  step = functools.partial(noise.update, config=config, nets=nets, axis_name=None)

  @functools.partial(jax.jit, donate_argnums=0)
  def run_chunk(states, batches):  # batches['x']: [chunk, seeds, n_critic, samples, 2]
    states, _ = lax.scan(lambda s, b: (jax.vmap(step)(s, b)[0], None), states, batches)
    return states

  def host_batches(start):
    steps = np.arange(start, start + chunk)
    return {'x': np.stack([d.points[d.indices(steps)] for d in datasets], axis=1)}

  t0 = time.perf_counter()
  states = run_chunk(states, host_batches(0))
  jax.block_until_ready(states)
  first = time.perf_counter() - t0  # compile + one chunk
  t1 = time.perf_counter()
  for start in range(chunk, config.num_steps, chunk):
    states = run_chunk(states, host_batches(start))
  jax.block_until_ready(states)
  steady = time.perf_counter() - t1
  steady_steps = config.num_steps - chunk
  wall = time.perf_counter() - t0

  centers, std = datasets[0].modes
  scores = []
  for i, seed in enumerate(seeds):
    seed_config = config.copy_and_resolve_references()
    seed_config.seed = seed
    sample = make_preview_sampler(seed_config, nets.generators['g'], config.eval.num_samples)
    params = jax.tree.map(lambda x: x[i], states.g_ema_params['g'])
    samples = np.asarray(sample(params, {}))
    scores.append(metrics.mode_metrics(samples, centers, std))
  return {
      'scores': {k: np.array([s[k] for s in scores]) for k in scores[0]},
      'steps': config.num_steps,
      'wall': wall,
      'compile_and_first_chunk': first,
      'steps_per_s': steady_steps / steady if steady_steps else float('nan'),
  }


def fmt(values: np.ndarray, scale: float = 1.0, digits: int = 2) -> str:
  values = values[np.isfinite(values)] * scale
  if not len(values):
    return 'n/a'
  se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
  return f'{values.mean():.{digits}f} ± {se:.{digits}f}'


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--protocol', choices=sorted(PROTOCOLS), default='short')
  parser.add_argument('--epochs', type=float, help='overrides the protocol\'s epochs')
  parser.add_argument('--seeds', type=int, help='overrides the protocol\'s number of seeds')
  parser.add_argument('--packs', help='overrides the protocol\'s packs, e.g. 1,2,3,4')
  parser.add_argument('--datasets', default='ring,grid')
  parser.add_argument('--chunk', type=int, default=1000, help='steps per dispatch (lax.scan)')
  args = parser.parse_args()
  epochs, num_seeds, packs = PROTOCOLS[args.protocol]
  epochs = args.epochs or epochs
  seeds = list(range(args.seeds or num_seeds))
  packs = args.packs or packs
  device = jax.devices()[0]
  print(f'# PacGAN Table 1 protocol ({args.protocol}), {epochs:g} epochs of 100,000 points, batch 100, '
        f'{len(seeds)} seeds; 2,500 samples scored per seed; mean ± standard error')
  print(f'# jax {jax.__version__} on {device.platform} ({device.device_kind}), '
        f'{os.cpu_count()} host cores, {platform.processor() or platform.machine()}')
  print()
  print('| data | pack | modes | high quality (%) | reverse KL | published (modes, HQ %, KL) '
        '| steps/seed | wall (s) | compile+1st chunk (s) | steps/s (all seeds) |')
  print('|---|---|---|---|---|---|---|---|---|---|')
  for dataset_name in args.datasets.split(','):
    for pack in map(int, packs.split(',')):
      r = run_cell(dataset_name, pack, seeds, epochs, args.chunk)
      s = r['scores']
      published = ', '.join(PUBLISHED.get((dataset_name, pack), ('—',) * 3))
      name = 'GAN' if pack == 1 else f'PacGAN{pack}'
      print(f'| {dataset_name} | {name} | {fmt(s["modes_covered"], digits=1)} '
            f'| {fmt(s["high_quality_fraction"], 100, 1)} | {fmt(s["reverse_kl"])} '
            f'| {published} | {r["steps"]} | {r["wall"]:.0f} | {r["compile_and_first_chunk"]:.1f} '
            f'| {r["steps_per_s"] * len(seeds):.0f} |', flush=True)


if __name__ == '__main__':
  main()
