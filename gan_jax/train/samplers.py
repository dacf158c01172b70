"""Sampling functions of a state's EMA generator, handed to the sample figures and to the
evaluators (which never see the state or the models), and the figures' drawings. A family picks
which of them its runs use (its `evaluation_sampler` and `preview`)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Callable

import jax
import ml_collections
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from gan_jax import data, figures, metrics, parallel
from gan_jax.metrics import evaluators
from gan_jax.metrics.evaluators import Sampler, Samples
from gan_jax.models import apply_model
from gan_jax.train import inputs

if TYPE_CHECKING:  # The state imports the families, which import this module.
  from gan_jax.train.state import GANState

# A preview: the figure of a state's samples, and the scores it shows (mode metrics on toy data).
Drawing = Callable[['GANState'], tuple[np.ndarray, dict[str, float]]]


def make_preview_sampler(config: ml_collections.ConfigDict, generator, num_samples: int,
                         labels: np.ndarray | None = None) -> Callable[..., jax.Array]:
  """`sample(g_params, g_batch_stats) -> [num_samples, ...]`, always from the same latents."""
  z = inputs.preview_latents(config.seed, num_samples, config.latent_dim)

  def sample(g_params, g_batch_stats):
    return apply_model(generator, g_params, g_batch_stats, z, labels, train=False)[0]
  return jax.jit(sample, compiler_options=parallel.compiler_options())


def described(config: ml_collections.ConfigDict, step: int, what: str = 'samples',
              who: str | None = None) -> str:
  """What the evaluators score, for their protocol texts: "samples of the EMA generator (decay
  0.999) at step 1000", or "... of the generator (no average)" where `ema_decay` is 0. `what`:
  the sampler's `what` ('samples', 'outputs for held-out sources'); `who`: the sampler's own
  description of the generator, where its family sets one."""
  who = who or (f'the EMA generator (decay {config.ema_decay:g})' if config.ema_decay
                else 'the generator (no average)')
  return f'{what} of {who} at step {step}'


@functools.cache
def generator_function(generator, mesh: Mesh | None) -> Callable[..., jax.Array]:
  """`f(g_params, g_batch_stats, inputs, labels)`: the generator's jitted inference, its outputs
  sharded over the mesh's devices. One per network and mesh (linen modules compare by their
  fields), so the sample figure, the evaluators and every seed of a run share its compile."""
  def apply(g_params, g_batch_stats, inputs, labels):
    return apply_model(generator, g_params, g_batch_stats, inputs, labels, train=False)[0]
  sharding = None if mesh is None else NamedSharding(mesh, P('data'))
  return jax.jit(apply, out_shardings=sharding, compiler_options=parallel.compiler_options(mesh))


class EvaluatorSampler:
  """`sampler(state)(name, count) -> Samples`: `count` samples of the EMA generator for the
  evaluator `name`, the same latents at every step (and, with `num_classes`, every class in turn),
  each device generating its share."""

  what = 'samples'
  who: str | None = None  # the generator, where the family describes it (`described`)

  def __init__(self, config: ml_collections.ConfigDict, generator, num_classes: int,
               mesh: Mesh | None):
    self.config, self.mesh = config, mesh
    self.num_classes = num_classes  # 0: samples drawn for no class
    self.batch = 256 if mesh is None else -(-256 // mesh.size) * mesh.size
    self._sharding = None if mesh is None else NamedSharding(mesh, P('data'))
    self._sample = generator_function(generator, mesh)

  def __call__(self, state: GANState) -> Sampler:
    return lambda name, count: Samples(*self.samples(state, name, count))

  def samples(self, state: GANState, name: str, count: int) -> tuple[np.ndarray, np.ndarray | None]:
    key = inputs.evaluator_key(self.config.seed, name)
    labels = inputs.evaluator_labels(count, self.num_classes) if self.num_classes else None
    out = []
    for i in range(0, count, self.batch):
      z = inputs.evaluator_latents(key, i, self.batch, self.config.latent_dim)
      lab = None if labels is None else np.resize(labels[i:], self.batch).astype(np.int32)
      if self._sharding is not None:  # Each device generates its share of the batch.
        z = jax.device_put(z, self._sharding)
        lab = None if lab is None else jax.make_array_from_callback(
            lab.shape, self._sharding, lambda idx, lab=lab: lab[idx])
      x = self._sample(state.g_ema_params['g'], state.g_batch_stats['g'], z, lab)
      out.append(np.asarray(multihost_utils.process_allgather(x, tiled=True)))
    return np.concatenate(out)[:count], labels


class TranslationSampler:
  """`sampler(state)(name, count) -> Samples`: the EMA generator's translations of the
  first `count` held-out images of the split that evaluator `name` scores against (its
  `real_split`, else `config.dataset.test_split`), in the entry's direction (CycleGAN: `ab` by
  `g_ab`, `ba` by `g_ba`; pairs: `g`), batches sharded over the mesh's devices."""

  what = 'outputs for held-out sources'

  def __init__(self, config: ml_collections.ConfigDict, generators: dict, mesh: Mesh | None):
    self.config, self.mesh, self.generators = config, mesh, generators
    self.entries = {n: (e.real_split or config.dataset.test_split, e.direction)
                    for n, e in evaluators.entries(config).items()}
    self.batch = 64 if mesh is None else -(-64 // mesh.size) * mesh.size
    self._sharding = None if mesh is None else NamedSharding(mesh, P('data'))
    self._pairs: dict[tuple[str, int, str], dict[str, np.ndarray]] = {}

  def network(self, direction: str) -> str:
    return 'g' if 'g' in self.generators else f'g_{direction}'

  def pairs(self, split: str, count: int, direction: str = 'ab') -> dict[str, np.ndarray]:
    """The first `count` (source, target, label) of `split` in `direction`, in [-1, 1]."""
    if (split, count, direction) not in self._pairs:  # Read once per run.
      c = self.config.copy_and_resolve_references()
      c.dataset.split, c.batch_size, c.n_critic = split, 1, 1
      dataset = data.build_on_one_process(c)
      self._pairs[split, count, direction] = dataset.first(count, direction)
    return self._pairs[split, count, direction]

  def translate(self, state: GANState, sources: np.ndarray, direction: str = 'ab') -> np.ndarray:
    name = self.network(direction)
    translate = generator_function(self.generators[name], self.mesh)
    out = []
    for i in range(0, len(sources), self.batch):
      x = sources[i:i + self.batch]
      pad = self.batch - len(x)
      x = np.concatenate([x, np.zeros((pad,) + x.shape[1:], x.dtype)]) if pad else x
      if self._sharding is not None:
        x = jax.make_array_from_callback(x.shape, self._sharding, lambda idx, x=x: x[idx])
      y = translate(state.g_ema_params[name], state.g_batch_stats[name], x, None)
      out.append(np.asarray(multihost_utils.process_allgather(y, tiled=True))[:self.batch - pad])
    # Unbounded generators (SRResNet) are scored and drawn as images: in [-1, 1].
    return np.clip(np.concatenate(out), -1.0, 1.0)

  def __call__(self, state: GANState) -> Sampler:
    def sample(name: str, count: int) -> Samples:
      split, direction = self.entries[name]
      pairs = self.pairs(split, count, direction)
      sources, targets = (data.split_name(self.config.dataset.name, split, side)
                          for side in (direction[:1], direction[1:]))
      return Samples(self.translate(state, pairs['source'], direction), pairs['label'],
                     f'the labels of the sources (the first {count} of {sources})',
                     targets=pairs['target'], targets_of=targets)
    return sample


class GridPreview:
  """A grid of the EMA generator's samples from fixed latents: `rows` x `cols`, one row per class
  for `labels` drawn by `inputs.preview_labels`."""

  def __init__(self, config: ml_collections.ConfigDict, generator, rows: int, cols: int,
               labels: np.ndarray | None = None):
    self.rows = rows
    self.sample = make_preview_sampler(config, generator, rows * cols, labels)

  def __call__(self, state: GANState) -> tuple[np.ndarray, dict[str, float]]:
    samples = np.asarray(jax.device_get(self.sample(state.g_ema_params['g'],
                                                    state.g_batch_stats['g'])))
    return figures.image_grid(samples, self.rows), {}


class ToyPreview:
  """The EMA generator's samples of a toy dataset over its training points and modes, and their
  mode metrics (`eval/modes_covered`, ...)."""

  def __init__(self, config: ml_collections.ConfigDict, generator, dataset):
    self.dataset = dataset
    self.sample = make_preview_sampler(config, generator, config.eval.num_samples)

  def __call__(self, state: GANState) -> tuple[np.ndarray, dict[str, float]]:
    samples = np.asarray(jax.device_get(self.sample(state.g_ema_params['g'],
                                                    state.g_batch_stats['g'])))
    centers, std = self.dataset.modes
    scores = {f'eval/{k}': v for k, v in metrics.mode_metrics(samples, centers, std).items()}
    title = (f'step {int(state.step)}: {scores["eval/modes_covered"]:.0f}/{len(centers)} modes, '
             f'{100 * scores["eval/high_quality_fraction"]:.1f}% high quality')
    return figures.toy_samples(samples, self.dataset.points[:5000], centers, title), scores


class TranslationPreview:
  """Rows of held-out sources and their translations: source | output | target of `count` pairs
  (`directions` ('ab',), paired data), or, for each direction of two unpaired domains, source |
  translation | translated back (`round_trip`), A -> B above B -> A."""

  def __init__(self, config: ml_collections.ConfigDict, generators: dict, mesh: Mesh | None,
               directions: tuple[str, ...], count: int, round_trip: bool):
    self.translations = TranslationSampler(config, generators, mesh)
    self.round_trip = round_trip
    self.pairs = {d: self.translations.pairs(config.dataset.test_split, count, d)
                  for d in directions}

  def __call__(self, state: GANState) -> tuple[np.ndarray, dict[str, float]]:
    rows = []
    for direction, pairs in self.pairs.items():
      output = self.translations.translate(state, pairs['source'], direction)
      third = (self.translations.translate(state, output, direction[::-1]) if self.round_trip
               else pairs['target'])
      rows.append(figures.translation_rows(pairs['source'], output, third))
    return np.concatenate(rows), {}
