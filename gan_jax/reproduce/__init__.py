"""Paper figures and tables as commands: `python -m gan_jax.reproduce NAME [--budget B] [--out DIR]`.

Each NAME is one module here declaring the paper, the figure or table, the published numbers, the
budgets it offers (`short`: minutes on 2 CPU cores; `full`: the paper's protocol) and a
`reproduce(budget, out)` that trains through the ordinary config and loop machinery (reusing
finished workdirs in `runs/` beside `out`) and returns a `Report`: our values beside the published
ones, the figures, the protocol and the exact commands.

The figure modules import the trainer (and with it orbax, clu and matplotlib) inside the
functions that train or draw: `--list` and a bad flag answer in 1.5 s on 2 CPU cores.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
from typing import Any

import numpy as np

NAMES = ('dirac_gan', 'equilibrium', 'pacgan_table1', 'stacked_mnist', 'discriminator_features',
         'dcgan_latent_walks', 'dcgan_vector_arithmetic', 'cas', 'super_resolution',
         'pix2pix_ablation', 'cyclegan_ablation')
BUDGETS = ('short', 'medium', 'full')


@dataclasses.dataclass
class Report:
  """What one figure writes: a table (our value beside the published one), figures, protocol."""
  title: str                              # the paper and its figure or table
  columns: list[str]
  rows: list[list[Any]]
  protocol: str                           # how our numbers were computed
  commands: list[str]                     # what reproduces them
  figures: dict[str, Any] = dataclasses.field(default_factory=dict)  # file stem -> matplotlib Figure
  checks: dict[str, bool] = dataclasses.field(default_factory=dict)  # published claim -> holds here

  def markdown(self) -> str:
    lines = [f'# {self.title}', '', '| ' + ' | '.join(self.columns) + ' |',
             '|' + '---|' * len(self.columns)]
    lines += ['| ' + ' | '.join(str(v) for v in row) + ' |' for row in self.rows]
    if self.checks:
      lines += ['', 'The published claims, checked on these runs:', '']
      lines += [f'- {"holds" if ok else "DOES NOT HOLD"}: {claim}' for claim, ok in self.checks.items()]
    lines += ['', '## Protocol', '', self.protocol, '', '## Commands', '', '```', *self.commands, '```']
    if self.figures:
      lines += ['', *[f'![{stem}]({stem}.png)' for stem in self.figures]]
    return '\n'.join(lines) + '\n'

  def write(self, out: str, name: str) -> str:
    """Writes NAME.md and the figures' PNGs into `out`; returns the markdown's path."""
    os.makedirs(out, exist_ok=True)
    for stem, figure in self.figures.items():
      figure.savefig(os.path.join(out, f'{stem}.png'), dpi=110, bbox_inches='tight')
    path = os.path.join(out, f'{name}.md')
    with open(path, 'w') as f:
      f.write(self.markdown())
    return path


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def experiment(name: str):
  """The config module `experiments/<name>.py` of this checkout (figures run its experiments)."""
  if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
  return importlib.import_module(f'experiments.{name}')


def runs_dir(out: str) -> str:
  """Where figures keep their training runs: `runs/` beside the `out` folder, so that figures
  written side by side (runs/reproduce/NAME) share a run of the same experiment; a finished run
  is read back, not trained again."""
  return os.path.join(os.path.dirname(os.path.abspath(out)), 'runs')


def scored_at_the_end(config, steps: int, seeds: int = 1):
  """`config` for `steps` steps with `seeds` seeds (one program), evaluated and checkpointed at
  the last step, logging about 5 times, datasets from TFDS_DATA_DIR (else tfds's default folder)."""
  config.num_steps, config.num_seeds = steps, seeds
  config.eval_every = config.checkpoint_every = steps
  config.log_every = max(1, min(config.log_every, steps // 5))
  config.dataset.data_dir = os.environ.get('TFDS_DATA_DIR', '')
  return config


def dcgan_mnist(steps: int):
  """experiments/dcgan_mnist.py for `steps` steps, MNIST from TFDS_DATA_DIR (else tfds's default
  folder), no evaluators: the figures that use it read its networks."""
  config = scored_at_the_end(experiment('dcgan_mnist').get_config(), steps)
  config.evals, config.eval.best_metric = {}, ''
  return config


def trained_state(config, workdir: str):
  """(networks, initial state, state at the last step) of `config`'s run in `workdir`, trained
  first unless it has finished."""
  from gan_jax.train.checkpoint import Checkpointer
  from gan_jax.train.loop import train_and_evaluate
  from gan_jax.train.run import build_run
  train_and_evaluate(config, workdir)
  run = build_run(config)
  checkpointer = Checkpointer(os.path.join(workdir, 'checkpoints'), run.config.keep_checkpoints)
  try:
    trained = checkpointer.restore(run.state, config.num_steps)
  finally:
    checkpointer.close()
  return run.nets, run.state, trained


def trained_dcgan_mnist(steps: int, out: str):
  """(config, generate, read_digits) of dcgan_mnist trained `steps` steps in runs/ beside `out`:
  generate(z) -> images of the EMA generator in [-1, 1], in batches of 500; read_digits(images)
  -> the digits gan_jax's shipped MNIST classifier reads."""
  import jax
  from gan_jax.metrics import classifier
  from gan_jax.models import apply_model
  config = dcgan_mnist(steps)
  nets, _, state = trained_state(config, os.path.join(runs_dir(out), f'dcgan_mnist_{steps}steps'))
  generator = nets.generators['g']
  batch = jax.jit(lambda z: apply_model(generator, state.g_ema_params['g'],
                                        state.g_batch_stats['g'], z, None, train=False)[0])
  params, _ = classifier.load_weights(classifier.weights_path('mnist'))

  def generate(z):
    z = np.asarray(z).reshape(-1, config.latent_dim)
    return np.concatenate([np.asarray(batch(z[i:i + 500])) for i in range(0, len(z), 500)])
  return config, generate, lambda images: classifier.predict(params, images)['logits'].argmax(-1)


def final_evaluation(config, workdir: str, key: str) -> tuple[dict, list[dict], str]:
  """Trains `config` in `workdir` unless it has finished, then (its last logged row holding
  `key`, all its rows, the wall-clock cell: seconds this call trained, or 'read back')."""
  from gan_jax.train.loop import train_and_evaluate
  from gan_jax.train.writers import read_jsonl
  path = os.path.join(workdir, 'metrics.jsonl')
  done = os.path.exists(path) and any(r.get('step') == config.num_steps and key in r
                                      for r in read_jsonl(path))
  result = train_and_evaluate(config, workdir)
  rows = read_jsonl(result['metrics'])
  final = next(r for r in reversed(rows) if key in r)
  return final, rows, 'read back' if done else f'{result["seconds"]:.0f}'


def on_held_out(config, samples: int):
  """`config` with each evaluator on the first `samples` held-out pairs (and as many real
  images where it compares with real ones)."""
  for entry in config.evals.values():
    entry['num_samples'] = samples
    if entry.get('num_real'):
      entry['num_real'] = samples
  return config


def ablation_rows(configs: dict[str, Any], workdirs: dict[str, str], names: dict[str, str],
                  keys: tuple[str, ...], published: dict[str, str]
                  ) -> tuple[dict[str, dict[str, Any]], list[list[Any]]]:
  """A translation ablation's runs and table: ({variant: {eval key: per-seed values, 'wall'}},
  rows of mean ± s.e. per variant, then the baselines of the first config scored by the same
  evaluator code), each row ending with its published value and wall time."""
  from gan_jax.metrics.baselines import score_baselines
  runs = {}
  for variant, config in configs.items():
    final, _, wall = final_evaluation(config, workdirs[variant], keys[0])
    runs[variant] = {**{k: per_seed(final, k, config.num_seeds) for k in keys}, 'wall': wall}
  digits = lambda k: 4 if 'accuracy' in k or 'ssim' in k else 2
  rows = [[names[v], *(mean_se(runs[v][k], digits=digits(k)) for k in keys), published[v],
           runs[v]['wall']] for v in configs]
  for name, values in score_baselines(next(iter(configs.values()))).items():
    rows.append([name, *(number(values[k]) for k in keys), published.get(name, ''), ''])
  return runs, rows


def ablation_columns(keys: tuple[str, ...], published: str) -> list[str]:
  """The columns of `ablation_rows`' table, `published` naming the paper's measure."""
  return ['loss', *(k.removeprefix('eval/') for k in keys), published, 'wall (s)']


def per_seed(row: dict, key: str, seeds: int) -> np.ndarray:
  """Each seed's value of `key` in a logged row (`key/seed_S`; the key itself for one seed)."""
  return np.array([float(row[f'{key}/seed_{s}'] if seeds > 1 else row[key]) for s in range(seeds)])


def module(name: str):
  """The module of figure `name` (one of NAMES)."""
  return importlib.import_module(f'gan_jax.reproduce.{name}')


def standard_error(values) -> float:
  """Sample standard deviation / sqrt(n) of the finite values (0 for one value)."""
  values = np.asarray(values, np.float64)
  values = values[np.isfinite(values)]
  return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0


def mean_se(values, scale: float = 1.0, digits: int = 2) -> str:
  """'mean ± standard error' of the finite values."""
  values = np.asarray(values, np.float64)
  values = values[np.isfinite(values)] * scale
  if not len(values):
    return 'n/a'
  return f'{values.mean():.{digits}f} ± {standard_error(values):.{digits}f}'


def number(value: float) -> str:
  """A baseline's value in a table: 4 significant digits; a distance of rounding noise is 0."""
  return f'{0.0 if abs(value) < 1e-9 else value:.4g}'


def line_figure(x, series: dict[str, list], xlabel: str, ylabel: str, title: str,
                scale: float = 1.0, **axes):
  """A matplotlib figure of one line per series: at each x, the mean of that point's values
  (over seeds or draws) ± its standard error, times `scale`."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(5, 3.2))
  for label, points in series.items():
    ax.errorbar(x, [scale * np.mean(p) for p in points],
                yerr=[scale * standard_error(p) for p in points], marker='o', ms=3, capsize=2,
                label=label)
  ax.set(xlabel=xlabel, ylabel=ylabel, title=title, **axes)
  return fig, ax
