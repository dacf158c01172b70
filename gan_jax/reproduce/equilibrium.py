"""The GAN equilibrium (Goodfellow et al. 2014, Fig. 1 and Proposition 1): for a fixed G the best
discriminator is D*(x) = p_data(x) / (p_data(x) + p_g(x)), so when G matches the data D = ½
everywhere. Here: the paper's toy setup on the 2-D ring (experiments/gan_ring.py, pack 1),
checkpointed through training; at each checkpoint, the mean of D(x) over real points and of
D(G(z)) over samples, per seed, with the modes the samples cover.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from gan_jax.reproduce import Report, experiment, line_figure, mean_se, runs_dir

PAPER = 'Goodfellow et al. 2014, "Generative Adversarial Nets"'
FIGURE = 'Fig. 1 and Proposition 1: D(x) and D(G(z)) approach ½'
# budget -> (training steps, seeds, checkpoints)
PROTOCOLS = {'short': (3_000, 3, 6), 'medium': (40_000, 5, 8), 'full': (400_000, 10, 10)}
BUDGETS = tuple(PROTOCOLS)
PUBLISHED = '½ at the equilibrium'
SAMPLES = 2_500
TOLERANCE = 0.1  # "approaches ½": within this of it at the last checkpoint


def run_config(steps: int, seeds: int, checkpoints: int):
  config = experiment('gan_ring').toy_config('ring', 'pack=1')
  config.num_steps, config.num_seeds = steps, seeds
  config.checkpoint_every = steps // checkpoints
  config.keep_checkpoints = checkpoints + 1
  config.eval_every = steps
  config.log_every = max(1, min(config.log_every, steps // 10))
  return config


def discriminator_means(config, workdir: str) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
  """(steps, mean D(x) [steps, seeds], mean D(G(z)) [steps, seeds], modes [steps, seeds]) at each
  checkpoint of the run in `workdir`."""
  from gan_jax.metrics import mode_metrics
  from gan_jax.models import apply_model
  from gan_jax.train.checkpoint import Checkpointer
  from gan_jax.train.parts import split_outputs
  from gan_jax.train.samplers import make_preview_sampler
  from gan_jax.train.run import build_run
  from gan_jax.train.state import seed_state
  run = build_run(config)
  dataset, nets = run.dataset, run.nets
  generator, discriminator = nets.generators['g'], nets.discriminators['d']
  sample = make_preview_sampler(config, generator, SAMPLES)
  real = dataset.points[:SAMPLES]
  d_prob = jax.jit(lambda params, stats, x: jax.nn.sigmoid(split_outputs(
      apply_model(discriminator, params, stats, x, None, train=False)[0])[0]).mean())
  centers, std = dataset.modes
  checkpointer = Checkpointer(os.path.join(workdir, 'checkpoints'), config.keep_checkpoints)
  template = run.state
  steps, d_real, d_fake, modes = checkpointer.all_steps(), [], [], []
  for step in steps:
    state = checkpointer.restore(template, step)
    row = [[], [], []]
    for i in range(config.num_seeds):
      s = seed_state(state, i) if config.num_seeds > 1 else state
      fake = sample(s.g_params['g'], s.g_batch_stats['g'])
      row[0].append(float(d_prob(s.d_params['d'], s.d_batch_stats['d'], real)))
      row[1].append(float(d_prob(s.d_params['d'], s.d_batch_stats['d'], fake)))
      row[2].append(mode_metrics(np.asarray(fake), centers, std)['modes_covered'])
    for values, into in zip(row, (d_real, d_fake, modes)):
      into.append(values)
  checkpointer.close()
  return steps, np.array(d_real), np.array(d_fake), np.array(modes)


def _figure(steps, d_real, d_fake):
  fig, ax = line_figure(steps, {'D(x), real': list(d_real), 'D(G(z)), generated': list(d_fake)},
                        'training step', 'mean discriminator output', 'GAN on the 2-D ring',
                        ylim=(0, 1))
  ax.axhline(0.5, color='grey', ls=':', label='½ (equilibrium)')
  ax.legend()
  fig.tight_layout()
  return fig


def reproduce(budget: str, out: str) -> Report:
  from gan_jax.train.loop import train_and_evaluate
  steps, seeds, checkpoints = PROTOCOLS[budget]
  config = run_config(steps, seeds, checkpoints)
  workdir = os.path.join(runs_dir(out), f'ring_{steps}steps_{seeds}seeds')
  train_and_evaluate(config, workdir)
  at, d_real, d_fake, modes = discriminator_means(config, workdir)
  rows = [[step, mean_se(d_real[i]), mean_se(d_fake[i]), mean_se(modes[i], digits=1),
           PUBLISHED if i == len(at) - 1 else ''] for i, step in enumerate(at)]
  last_real, last_fake = d_real[-1].mean(), d_fake[-1].mean()
  return Report(
      title=f'{PAPER}, {FIGURE}',
      columns=['step', 'mean D(x)', 'mean D(G(z))', 'modes covered (of 8)', 'published'],
      rows=rows,
      protocol=(f'experiments/gan_ring.py (the PacGAN paper\'s MLPs, non-saturating loss, Adam 1e-4 '
                f'/ 0.8, batch 100), {steps:,} steps, {seeds} seeds as one program (num_seeds), a '
                f'checkpoint every {config.checkpoint_every:,} steps. At each: D = sigmoid(logit) '
                f'averaged over the first {SAMPLES:,} training points and over {SAMPLES:,} samples '
                'of the generator from fixed latents; mean ± standard error over seeds. Modes: '
                'samples within 3 std of a centre.'),
      commands=[f'python -m gan_jax.reproduce equilibrium --budget {budget} --out {out}',
                f'python launch.py --config experiments/gan_ring.py --workdir {workdir} '
                f'--config.num_steps={steps} --config.num_seeds={seeds} '
                f'--config.checkpoint_every={config.checkpoint_every} '
                f'--config.keep_checkpoints={config.keep_checkpoints}'],
      figures={'equilibrium': _figure(at, d_real, d_fake)},
      checks={f'D(x) and D(G(z)) end within {TOLERANCE} of ½ (means over seeds: '
              f'{last_real:.3f}, {last_fake:.3f})':
              bool(abs(last_real - 0.5) < TOLERANCE and abs(last_fake - 0.5) < TOLERANCE)})
