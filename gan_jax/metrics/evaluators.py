"""`config.evals`: sample-quality metrics of the EMA generator during training and in `evaluate`.

Each entry names a metric, how often, how many samples and which extractor. Real-data features
are computed once and cached on disk, keyed by dataset, split, image size, extractor weights
and count. Every result is logged with a text saying exactly how it was computed.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import os
import re

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from gan_jax import data
from gan_jax.errors import EvalConfigError
from gan_jax.fileutil import cache_dir, save_npz
from gan_jax.metrics import classifier, inception
from gan_jax.metrics.extractors import CLASSIFIER_SHAPES, EXTRACTORS, Extractor, get_extractor
from gan_jax.metrics.modes import MODE_METRICS
# Samples and SampleKind: what a family's sampler gives, described beside the metrics' records.
from gan_jax.metrics.records import METRICS, Inputs, Sampler, SampleKind, Samples

# An entry's fields and their defaults, except that an entry without `every` or `extractor` takes
# `config.eval_every` and the extractor of the config's other entries (else 'inception'): so
# `--config.evals.cas=cas` adds a metric that runs like the ones the experiment already has.
# crop: psnr/ssim border, in pixels. direction: for two unpaired domains (CycleGAN), 'ab' scores
# the translations of held-out A images against domain B, 'ba' the reverse; '' otherwise.
# tag: appended to the logged names (`accuracy_mnistm_cnn_ab_val`), so that the same metric can
# be logged on two splits, e.g. the test split and a validation split that chooses checkpoints.
# real_split: the real images compared with; empty: the metric's, else the family's (the
# training split for noise-to-image GANs, the held-out split for translations).
ENTRY_DEFAULTS = dict(metric='', every=1000, num_samples=10_000, extractor='inception',
                      real_split='', num_real=0, crop=0, direction='', tag='')
DIRECTIONS = ('ab', 'ba')
# Pixel metrics: the entry's extractor is not loaded.
WITHOUT_EXTRACTOR = tuple(name for name, m in METRICS.items() if not m.extractor)

def _suffix(extractor: str) -> str:
  return '' if extractor == 'inception' else f'_{extractor}'


def metric_keys(metric: str, extractor: str, direction: str = '', tag: str = '') -> list[str]:
  """The names an entry's results are logged under: the metric's (FID only when the features are
  Inception's), then `_ab` or `_ba` for a translation direction, then `_<tag>`; a standard
  deviation's name ends in `_std` after both."""
  suffix = ''.join(f'_{part}' for part in (direction, tag) if part)
  return [f'{k.removesuffix("_std")}{suffix}_std' if k.endswith('_std') else f'{k}{suffix}'
          for k in METRICS[metric].keys(_suffix(extractor))]


def entry_keys(entry: ml_collections.ConfigDict) -> list[str]:
  """The names a filled-in `evals` entry (see `entries`) logs its results under."""
  return metric_keys(entry.metric, entry.extractor, entry.direction, entry.tag)


def entries(config: ml_collections.ConfigDict) -> dict[str, ml_collections.ConfigDict]:
  """The `evals` entries with their defaults filled in, checked; raises `EvalConfigError`."""
  given = dict(config.get('evals', {}))
  for name, entry in given.items():
    if isinstance(entry, str):  # `--config.evals.NAME=METRIC`: that metric with the defaults.
      given[name] = entry = {'metric': entry}
    if not isinstance(entry, (ml_collections.ConfigDict, dict)):
      raise EvalConfigError(f'config.evals.{name}: expected a metric name or a group of fields '
                            f'({sorted(ENTRY_DEFAULTS)}), got {entry!r}')
  extractors = [e['extractor'] for e in given.values() if isinstance(e.get('extractor'), str)]
  defaults = dict(ENTRY_DEFAULTS, every=config.get('eval_every', ENTRY_DEFAULTS['every']),
                  extractor=extractors[0] if extractors else ENTRY_DEFAULTS['extractor'])
  out = {}
  for name, entry in given.items():
    full = ml_collections.ConfigDict(defaults)
    for key, value in entry.items():
      if key not in ENTRY_DEFAULTS:
        raise EvalConfigError(f'config.evals.{name}.{key}: unknown field; known: {sorted(ENTRY_DEFAULTS)}')
      kind = type(ENTRY_DEFAULTS[key])
      if not isinstance(value, kind) or isinstance(value, bool):
        raise EvalConfigError(f'config.evals.{name}.{key}: expected {kind.__name__}, got {value!r}')
      full[key] = value
    if full.metric not in METRICS:
      raise EvalConfigError(f'config.evals.{name}.metric: unknown metric {full.metric!r}; '
                            f'known: {sorted(METRICS)}')
    if full.extractor not in EXTRACTORS:
      raise EvalConfigError(f'config.evals.{name}.extractor: unknown extractor '
                            f'{full.extractor!r}; known: {list(EXTRACTORS)}')
    metric = METRICS[full.metric]
    if metric.classifier and full.extractor == 'inception':
      raise EvalConfigError(f'config.evals.{name}.extractor: {metric.name} needs a classifier of '
                            f"the dataset's classes ({', '.join(EXTRACTORS[1:])})")
    if full.direction not in ('',) + DIRECTIONS:
      raise EvalConfigError(f'config.evals.{name}.direction: {full.direction!r}; use ab or ba '
                            '(two unpaired domains), or leave it empty')
    if full.crop < 0:
      raise EvalConfigError(f'config.evals.{name}.crop: must be >= 0, got {full.crop}')
    if metric.extractors and full.extractor not in metric.extractors:
      how = 'classifies each channel' if metric.per_channel else 'scores'
      raise EvalConfigError(f'config.evals.{name}.extractor: {metric.name} {how} with '
                            f'{" or ".join(metric.extractors)}')
    if full.tag and not re.fullmatch(r'[a-z0-9]+', full.tag):
      raise EvalConfigError(f'config.evals.{name}.tag: {full.tag!r}; use lowercase letters and '
                            "digits, e.g. 'val'")
    if full.every <= 0:
      raise EvalConfigError(f'config.evals.{name}.every: must be positive, got {full.every}')
    need = metric.min_samples
    for field in ('num_samples', 'num_real'):
      if full[field] and full[field] < need or full[field] < 0:
        raise EvalConfigError(f'config.evals.{name}.{field}: {full.metric} needs at least {need} '
                              f'samples, got {full[field]}')
    for other, e in out.items():
      if shared := sorted(set(entry_keys(full)) & set(entry_keys(e))):
        raise EvalConfigError(f'config.evals.{name}: logs {shared[0]!r} like config.evals.{other}; '
                              "give one of them a tag (e.g. tag='val')")
    out[name] = full
  return out


def check(config: ml_collections.ConfigDict, kind: SampleKind) -> None:
  """What can only be checked once the family's samples are known (`kind`, from its
  `sample_kind`), before any compile."""
  for name, e in entries(config).items():
    metric = METRICS[e.metric]
    if not kind.is_image_data:
      raise EvalConfigError(f'config.evals.{name}: sample-quality metrics need an image dataset; '
                            'toy datasets report mode metrics at every eval_every')
    if bool(kind.directions) != bool(e.direction):
      raise EvalConfigError(f'config.evals.{name}.direction: ' + (
          'two unpaired domains: say which translation is scored, ab or ba' if kind.directions
          else f'{e.direction!r}, but {config.dataset.name!r} is not two unpaired domains; leave '
          'it empty'))
    split = e.real_split or metric.default_split or kind.reference_split
    if 'targets' in metric.needs and not kind.has_targets(split, e.direction):
      raise EvalConfigError(f'config.evals.{name}.metric: {e.metric} compares outputs with their '
                            'true targets: it needs a paired dataset, or unpaired domains whose '
                            'held-out translations are known (mnist_mnistm outside its training '
                            'split, direction ba)')
    if 'labels' in metric.needs and not (kind.num_classes or kind.conditional):
      raise EvalConfigError(f'config.evals.{name}.metric: {e.metric} needs labelled data')
    takes = CLASSIFIER_SHAPES.get(e.extractor.removesuffix('_cnn'))
    data_shape = tuple(kind.data_shape)
    shape = data_shape[:-1] + (1,) if metric.per_channel else data_shape
    if takes and takes[-1] == 1 and shape[-1:] == (3,):  # Grey classifiers score the luma.
      shape = shape[:-1] + (1,)
    if data_shape and takes and shape != takes:
      raise EvalConfigError(f'config.evals.{name}.extractor: {e.extractor} takes {takes} images '
                            f'(what it was trained on); this dataset\'s are {data_shape}')
    if 'classes' in metric.needs and not kind.conditional:
      raise EvalConfigError(f'config.evals.{name}.metric: {e.metric} needs a class-conditional '
                            'generator')
    if message := metric.check(e, kind):
      raise EvalConfigError(f'config.evals.{name}.{message}')


def stats_cache_dir(config: ml_collections.ConfigDict) -> str:
  return config.eval.get('cache_dir') or os.path.join(cache_dir(), 'stats')


def as_extractor_takes(extractor: Extractor, images: np.ndarray) -> tuple[np.ndarray, bool]:
  """(images, whether converted): colour images in [-1, 1] as their BT.601 luma for a classifier
  of grey images (mnist_cnn scoring CycleGAN's 3-channel digits); others unchanged."""
  if extractor.input_shape and extractor.input_shape[-1] == 1 and images.shape[-1] == 3:
    return images @ classifier.BT601_LUMA[:, None], True
  return images, False


def real_features(config: ml_collections.ConfigDict, extractor: Extractor, split: str, count: int,
                  mesh: Mesh | None, side: str = '') -> tuple[dict[str, np.ndarray], str]:
  """Extractor outputs on real data, computed once per (dataset, split, domain, size, weights,
  count)."""
  d = config.dataset
  key = f'{d.name}|{split}|{d.image_size}|{extractor.name}|{extractor.weights_id}|{count}'
  key += f'|{side}' if side else ''  # Keys of one-domain data stay as they were.
  path = os.path.join(stats_cache_dir(config), hashlib.sha256(key.encode()).hexdigest()[:20] + '.npz')
  if os.path.exists(path):
    with np.load(path, allow_pickle=False) as f:
      if str(f['key']) == key:
        return {k: f[k] for k in ('features', 'logits', 'labels')}, str(f['source'])
  images, labels, source = data.real_images(config, split, count, side)
  images, grey = as_extractor_takes(extractor, images)
  source += ' (BT.601 luma)' * grey
  out = dict(extractor(images, mesh), labels=labels)
  source = f'{len(images)} images of {source} ({"x".join(map(str, images.shape[1:3]))})'
  if jax.process_index() == 0:
    save_npz(path, key=key, source=source, **out)
  return out, source


class Evaluators:
  """Runs the due `config.evals` entries on samples; returns (scalars, texts).

  Samples come from a function `sample(name, count) -> Samples` the caller hands in (a family's
  sampler of the EMA generator), so nothing here knows the models or the state.
  """

  def __init__(self, config: ml_collections.ConfigDict, kind: SampleKind, mesh: Mesh | None):
    self.config, self.kind, self.mesh = config, kind, mesh
    self.seed = config.seed  # seeds what the metrics train (CAS's classifier)
    self.entries = entries(config)
    # Weights are loaded here, so that a missing file stops the run before anything compiles.
    self.extractors = {n: get_extractor(e.extractor, config.eval.get('inception_weights', ''))
                       for n, e in self.entries.items() if METRICS[e.metric].extractor}

  def with_seed(self, seed: int) -> 'Evaluators':
    """These evaluators (the same extractors) for the run of `seed`."""
    other = copy.copy(self)
    other.seed = seed
    return other

  def due(self, step: int, last: bool) -> list[str]:
    return [n for n, e in self.entries.items() if step % e.every == 0 or last]

  def __call__(self, sample: Sampler, names: list[str],
               what: str) -> tuple[dict[str, float], dict[str, str]]:
    """Scores `sample(name, count)` by the entries `names`, described as `what` (e.g. "samples
    of the EMA generator at step 1000"): (scalars, protocol texts)."""
    results, texts = {}, {}
    for name in names:
      r, t = self.score(name, sample(name, self.entries[name].num_samples), what)
      results.update(r)
      texts.update(t)
    return results, texts

  def split(self, name: str) -> str:
    """The real split entry `name` compares with: its own, else its metric's, else the family's."""
    e = self.entries[name]
    return e.real_split or METRICS[e.metric].default_split or self.kind.reference_split

  def score(self, name: str, samples: Samples, what: str
            ) -> tuple[dict[str, float], dict[str, str]]:
    """Entry `name`'s metric of `samples` (images in [-1, 1]), described as `what`."""
    e, extractor, metric = self.entries[name], self.extractors.get(name), METRICS[self.entries[name].metric]
    images = samples.images
    if extractor is not None and not metric.per_channel:
      images, grey = as_extractor_takes(extractor, images)
      what += ' (their BT.601 luma)' * grey
    if extractor is not None:
      extractor.check_images(images[..., :1] if metric.per_channel else images,
                             f'evals.{name}: {what}')
    split, side = self.split(name), e.direction[1:]  # side: the target domain
    inputs = Inputs(
        samples=dataclasses.replace(samples, images=images), entry=e, extractor=extractor,
        mesh=self.mesh,
        real_features=lambda: real_features(self.config, extractor, split, e.num_real, self.mesh,
                                            side),
        real_images=lambda count: data.real_images(self.config, split, count, side),
        seed=self.seed, num_classes=self.kind.num_classes, scale=self.config.dataset.scale)
    values, reference = metric.score(inputs)
    keys = entry_keys(e)
    results = {f'eval/{k}': v for k, v in zip(keys, values)}
    results[f'eval/{keys[0]}_num_samples'] = len(images)
    features = extractor.description if extractor is not None else 'pixels in [0, 1]'
    text = f'{e.metric} of {len(images)} {what}; reference: {reference}; features: {features}'
    return results, {f'eval/{keys[0]}_protocol': text}


def lower_is_better(key: str) -> bool:
  """Whether a logged metric improves downwards (distances, divergences), from its record: `key`
  is a name an entry logs (`eval/` and a direction or tag may follow it) or a mode metric."""
  key = key.removeprefix('eval/')
  directions = dict(MODE_METRICS)
  for metric in METRICS.values():
    for extractor in EXTRACTORS:
      names = [k for k in metric.keys(_suffix(extractor)) if not k.endswith('_std')]
      directions.update(zip(names, metric.lower_is_better))
  stem = max((k for k in directions if key == k or key.startswith(k + '_')), key=len, default=None)
  if stem is None:
    raise KeyError(f'{key}: not a metric gan_jax logs')
  return directions[stem]
