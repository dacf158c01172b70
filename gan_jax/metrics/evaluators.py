"""`config.evals`: sample-quality metrics of the EMA generator during training and in `evaluate`.

Each entry names a metric, how often, how many samples and which extractor. Real-data features
are computed once and cached on disk, keyed by dataset, split, image size, extractor weights
and count. Every result is logged with a text saying exactly how it was computed.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import os
import re
from typing import Callable, NamedTuple

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from gan_jax.data import is_paired, is_translation, is_unpaired
from gan_jax.data.unpaired import known_truth_directions
from gan_jax.errors import EvalConfigError
from gan_jax.fileutil import save_npz
from gan_jax.metrics import classifier, inception, scores
from gan_jax.metrics.extractors import EXTRACTORS, Extractor, get_extractor
from gan_jax.metrics.scores import MetricInputError

# metric -> (fewest samples it needs, whether lower is better for each value it reports)
METRICS = {
    'fd': 2,            # Fréchet distance ("FID" when the extractor is the Inception)
    'is': 10,           # Inception(-like) score, 10 splits
    'kid': 2,           # kernel (Inception) distance
    'pr': 4,            # improved precision and recall, k = 3
    'dc': 6,            # density and coverage, k = 5
    'intra_fd': 2,      # mean per-class Fréchet distance (conditional models)
    'cas': 10,          # classification accuracy score: trained on samples, tested on real data
    'stacked_modes': 1, # Stacked-MNIST: modes (of 1000) covered and KL to uniform
    # Translation and super-resolution: outputs of held-out sources against their targets.
    'psnr': 1,          # PSNR in dB, all channels and Y
    'lr_psnr': 1,       # super-resolution: PSNR of the output shrunk back against the input
    'ssim': 1,          # SSIM, all channels and Y
    'accuracy': 1,      # the extractor's (a dataset classifier's) accuracy on the outputs
    'colorfulness': 1,  # Hasler & Süsstrunk's colourfulness, to set beside the real images'
}
# Pixel metrics: the entry's extractor is not loaded.
WITHOUT_EXTRACTOR = ('psnr', 'ssim', 'lr_psnr', 'colorfulness')
# An entry's fields and their defaults, except that an entry without `every` or `extractor` takes
# `config.eval_every` and the extractor of the config's other entries (else 'inception'): so
# `--config.evals.cas=cas` adds a metric that runs like the ones the experiment already has.
# crop: psnr/ssim border, in pixels. direction: for two unpaired domains (CycleGAN), 'ab' scores
# the translations of held-out A images against domain B, 'ba' the reverse; '' otherwise.
# tag: appended to the logged names (`accuracy_mnistm_cnn_ab_val`), so that the same metric can
# be logged on two splits, e.g. the test split and a validation split that chooses checkpoints.
ENTRY_DEFAULTS = dict(metric='', every=1000, num_samples=10_000, extractor='inception',
                      real_split='', num_real=0, crop=0, direction='', tag='')
DIRECTIONS = ('ab', 'ba')
CAS_EPOCHS = 10


@dataclasses.dataclass(frozen=True)
class Samples:
  """What a family's sampler hands the evaluators for one entry: the images, and what they were
  drawn for. The sampler is `sample(name, count) -> Samples`."""
  images: np.ndarray                       # [N, H, W, C] in [-1, 1]
  labels: np.ndarray | None = None         # integer classes: drawn for, or those of the sources
  labels_of: str = 'the labels the samples were drawn for'  # what `labels` are, for the protocol
  condition: np.ndarray | None = None      # a condition that is not a class, e.g. sentence
                                           # embeddings [N, D]
  texts: tuple[str, ...] | None = None     # the captions `condition` encodes, one per image


Sampler = Callable[[str, int], Samples]


class SampleKind(NamedTuple):
  """What a family's samples are, for `check`: the arguments after the config."""
  is_image_data: bool     # images (else points of a toy dataset)
  conditional: bool       # drawn for given class labels
  num_classes: int        # of the dataset
  data_shape: tuple = ()  # of one sample


def _suffix(extractor: str) -> str:
  return '' if extractor == 'inception' else f'_{extractor}'


def metric_keys(metric: str, extractor: str, direction: str = '', tag: str = '') -> list[str]:
  """The names an entry's results are logged under: FID only when the features are Inception's;
  `_ab` or `_ba` after the names of a translation direction, then `_<tag>`; a standard
  deviation's name ends in `_std` after both."""
  s = _suffix(extractor)
  keys = {
      'fd': ['fid' if not s else f'fd{s}'],
      'is': [f'is{s}', f'is{s}_std'],
      'kid': ['kid' if not s else f'kd{s}', f'{"kid" if not s else "kd" + s}_std'],
      'pr': [f'precision{s}', f'recall{s}'],
      'dc': [f'density{s}', f'coverage{s}'],
      'intra_fd': ['intra_fid' if not s else f'intra_fd{s}'],
      'cas': ['cas'],
      'stacked_modes': ['stacked_modes', 'stacked_kl'],
      'psnr': ['psnr', 'psnr_y'],
      'lr_psnr': ['lr_psnr'],
      'ssim': ['ssim', 'ssim_y'],
      'accuracy': [f'accuracy{s}'],
      'colorfulness': ['colorfulness'],
  }[metric]
  suffix = ''.join(f'_{part}' for part in (direction, tag) if part)
  return [f'{k.removesuffix("_std")}{suffix}_std' if k.endswith('_std') else f'{k}{suffix}'
          for k in keys]


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
    if full.metric == 'accuracy' and full.extractor == 'inception':
      raise EvalConfigError(f'config.evals.{name}.extractor: accuracy needs a classifier of the '
                            f"dataset's classes ({', '.join(EXTRACTORS[1:])})")
    if full.direction not in ('',) + DIRECTIONS:
      raise EvalConfigError(f'config.evals.{name}.direction: {full.direction!r}; use ab or ba '
                            '(two unpaired domains), or leave it empty')
    if full.crop < 0:
      raise EvalConfigError(f'config.evals.{name}.crop: must be >= 0, got {full.crop}')
    if full.metric == 'stacked_modes' and full.extractor != 'mnist_cnn':
      raise EvalConfigError(f'config.evals.{name}.extractor: stacked_modes classifies each channel '
                            'with mnist_cnn')
    if full.tag and not re.fullmatch(r'[a-z0-9]+', full.tag):
      raise EvalConfigError(f'config.evals.{name}.tag: {full.tag!r}; use lowercase letters and '
                            "digits, e.g. 'val'")
    if full.every <= 0:
      raise EvalConfigError(f'config.evals.{name}.every: must be positive, got {full.every}')
    need = METRICS[full.metric]
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


def check(config: ml_collections.ConfigDict, is_image_data: bool, conditional: bool,
          num_classes: int, data_shape: tuple[int, ...] = ()) -> None:
  """What can only be checked once the dataset and models are known (before any compile)."""
  from gan_jax.metrics.extractors import CLASSIFIER_SHAPES
  unpaired = is_unpaired(config)
  for name, e in entries(config).items():
    if not is_image_data:
      raise EvalConfigError(f'config.evals.{name}: sample-quality metrics need an image dataset; '
                            'toy datasets report mode metrics at every eval_every')
    if unpaired != bool(e.direction):
      raise EvalConfigError(f'config.evals.{name}.direction: ' + (
          'two unpaired domains: say which translation is scored, ab or ba' if unpaired else
          f'{e.direction!r}, but {config.dataset.name!r} is not two unpaired domains; leave it empty'))
    split = e.real_split or config.dataset.test_split
    truth = is_paired(config) or e.direction in known_truth_directions(config.dataset.name, split)
    if e.metric in ('psnr', 'ssim', 'lr_psnr') and not truth:
      raise EvalConfigError(f'config.evals.{name}.metric: {e.metric} compares outputs with their '
                            'true targets: it needs a paired dataset, or unpaired domains whose '
                            'held-out translations are known (mnist_mnistm outside its training '
                            'split, direction ba)')
    if e.metric == 'accuracy' and not (num_classes or conditional):
      raise EvalConfigError(f'config.evals.{name}.metric: accuracy needs labelled data')
    takes = CLASSIFIER_SHAPES.get(e.extractor.removesuffix('_cnn'))
    shape = tuple(data_shape[:-1]) + (1,) if e.metric == 'stacked_modes' else tuple(data_shape)
    if takes and takes[-1] == 1 and shape[-1:] == (3,):  # Grey classifiers score the luma.
      shape = shape[:-1] + (1,)
    if data_shape and takes and shape != takes:
      raise EvalConfigError(f'config.evals.{name}.extractor: {e.extractor} takes {takes} images '
                            f'(what it was trained on); this dataset\'s are {tuple(data_shape)}')
    if e.metric in ('intra_fd', 'cas') and not conditional:
      raise EvalConfigError(f'config.evals.{name}.metric: {e.metric} needs a class-conditional '
                            'generator')
    if e.metric == 'intra_fd' and e.num_samples < 2 * num_classes:
      raise EvalConfigError(f'config.evals.{name}.num_samples: intra_fd needs at least 2 per class '
                            f'({2 * num_classes}), got {e.num_samples}')


def stacked_mnist_modes(images: np.ndarray, mnist: Extractor, mesh: Mesh | None = None
                        ) -> dict[str, float]:
  """Stacked-MNIST (Metz et al. 2017): each colour channel classified as a digit; a sample's mode
  is the triple (1000 modes). Modes covered, and KL(sample mode histogram || uniform)."""
  if images.ndim != 4 or images.shape[-1] != 3:
    raise MetricInputError(f'stacked_modes: expected [N, 28, 28, 3] images, got {images.shape}')
  digits = [mnist(images[..., c:c + 1], mesh)['logits'].argmax(-1) for c in range(3)]
  modes = 100 * digits[0] + 10 * digits[1] + digits[2]
  p = np.bincount(modes, minlength=1000) / len(modes)
  kl = float(np.sum(p[p > 0] * np.log(p[p > 0] * 1000)))
  return {'stacked_modes': float(np.count_nonzero(p)), 'stacked_kl': kl}


def stats_cache_dir(config: ml_collections.ConfigDict) -> str:
  return config.eval.get('cache_dir') or os.path.join(inception.cache_dir(), 'stats')


@functools.lru_cache(maxsize=1)  # Read at every evaluation, by both directions' entries.
def _held_out_domains(*args) -> dict[str, np.ndarray]:
  from gan_jax.data.unpaired import load_unpaired
  return load_unpaired(*args)


def real_data(config: ml_collections.ConfigDict, split: str, count: int, side: str = ''
              ) -> tuple[np.ndarray, np.ndarray, str]:
  """The first `count` images (all if 0) of `split` (of domain `side` of unpaired data) in
  stored order, in [-1, 1], their labels, and a name for the record."""
  from gan_jax.data.images import STACKED_MNIST, load_folder, load_stacked_mnist, load_tfds
  d = config.dataset
  if is_unpaired(config):
    domains = _held_out_domains(d.name, split, d.data_dir or None, d.image_size, d.download)
    images, labels, split = domains[side], domains[f'label_{side}'], f'{split} {side.upper()}'
  elif d.name == STACKED_MNIST:
    images, labels, _ = load_stacked_mnist(split, d.data_dir or None, d.download, d.num_train, 0, 1)
  elif d.name.startswith('folder:'):
    images, labels, _ = load_folder(d.name.removeprefix('folder:'), d.image_size, 0, 1)
  elif d.name.split('/')[0] == 'div2k':  # The high-resolution crops.
    from gan_jax.data.paired import load_div2k
    images = load_div2k(d.name, split, d.data_dir or None, d.image_size, d.download, d.scale)[1]
    labels = np.zeros(len(images), np.int32)
  elif d.name.startswith('paired_folder:'):  # The targets (B/).
    from gan_jax.data.paired import load_paired_folder
    images = load_paired_folder(d.name.removeprefix('paired_folder:'), d.image_size)[1]
    labels = np.zeros(len(images), np.int32)
  else:
    images, labels, _ = load_tfds(d.name, split, d.data_dir or None, d.image_size, d.download, 0, 1)
  if count and len(images) < count:
    raise MetricInputError(f'{d.name}:{split} has {len(images)} images; the metric asks for {count}')
  count = count or len(images)
  return images[:count].astype(np.float32) / 127.5 - 1, labels[:count], f'{d.name}:{split}'


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
  images, labels, source = real_data(config, split, count, side)
  images, grey = as_extractor_takes(extractor, images)
  source += ' (BT.601 luma)' * grey
  out = dict(extractor(images, mesh), labels=labels)
  source = f'{len(images)} images of {source} ({"x".join(map(str, images.shape[1:3]))})'
  if jax.process_index() == 0:
    save_npz(path, key=key, source=source, **out)
  return out, source


class Evaluators:
  """Runs the due `config.evals` entries on samples; returns (scalars, texts).

  Samples come from a function `sample(name, count) -> (images, labels)` the caller hands in
  (the trainer's EMA-generator sampler), so nothing here knows the models or the state.
  """

  def __init__(self, config: ml_collections.ConfigDict, num_classes: int, mesh: Mesh | None):
    self.config, self.mesh, self.num_classes = config, mesh, num_classes
    self.seed = config.seed  # seeds what the metrics train (CAS's classifier)
    self.entries = entries(config)
    # Weights are loaded here, so that a missing file stops the run before anything compiles.
    self.extractors = {n: get_extractor(e.extractor, config.eval.get('inception_weights', ''))
                       for n, e in self.entries.items() if e.metric not in WITHOUT_EXTRACTOR}

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
      samples = sample(name, self.entries[name].num_samples)
      r, t = self.score(name, samples.images, samples.labels, what, samples.labels_of)
      results.update(r)
      texts.update(t)
    return results, texts

  def score(self, name: str, images: np.ndarray, labels: np.ndarray | None, what: str,
            labels_of: str = Samples.labels_of) -> tuple[dict[str, float], dict[str, str]]:
    """Entry `name`'s metric of `images` ([-1, 1]) with their `labels` (`labels_of` says what
    they are), described as `what`."""
    e, extractor = self.entries[name], self.extractors.get(name)
    per_channel = e.metric == 'stacked_modes'  # Each channel is one MNIST digit.
    if extractor is not None and not per_channel:
      images, grey = as_extractor_takes(extractor, images)
      what += ' (their BT.601 luma)' * grey
    if extractor is not None:
      extractor.check_images(images[..., :1] if per_channel else images, f'evals.{name}: {what}')
    values, reference = self._score(e, extractor, images, labels, labels_of)
    keys = entry_keys(e)
    results = {f'eval/{k}': v for k, v in zip(keys, values)}
    results[f'eval/{keys[0]}_num_samples'] = len(images)
    features = extractor.description if extractor is not None else 'pixels in [0, 1]'
    text = f'{e.metric} of {len(images)} {what}; reference: {reference}; features: {features}'
    return results, {f'eval/{keys[0]}_protocol': text}

  def _score(self, e, extractor: Extractor, fake: np.ndarray, fake_labels, labels_of: str):
    default = (self.config.dataset.test_split if is_translation(self.config) else
               'test' if e.metric == 'cas' else self.config.dataset.split)
    split, side = e.real_split or default, e.direction[1:]  # side: the target domain
    if e.metric in ('psnr', 'ssim'):  # Output i against the target of source i.
      targets, _, source = real_data(self.config, split, len(fake), side)
      values = (scores.psnr if e.metric == 'psnr' else scores.ssim)(fake, targets[:len(fake)],
                                                                    e.crop)
      return list(values.values()), (f'the targets of {source} (the first {len(fake)}); '
                                     f'border crop {e.crop}; Y of BT.601')
    if e.metric == 'lr_psnr':  # Consistency: shrunk back, the output should be its input.
      from gan_jax.data.paired import downsample
      targets, _, source = real_data(self.config, split, len(fake))
      shrink = lambda x: downsample(np.round((np.clip(x, -1, 1) + 1) * 127.5).astype(np.uint8),
                                    self.config.dataset.scale).astype(np.float32) / 127.5 - 1
      value = scores.psnr(shrink(fake), shrink(targets[:len(fake)]))['psnr']
      return [value], (f'the targets of {source} shrunk {self.config.dataset.scale}x (antialiased '
                       'bicubic, 8 bits): the sources')
    if e.metric == 'colorfulness':
      return [scores.colorfulness(fake)], 'none (compare with the real images\' value)'
    if e.metric == 'accuracy':
      predicted = extractor(fake, self.mesh)['logits'].argmax(-1)
      return [float(np.mean(predicted == fake_labels))], labels_of
    if e.metric == 'stacked_modes':
      m = stacked_mnist_modes(fake, extractor, self.mesh)
      return [m['stacked_modes'], m['stacked_kl']], '1000 uniform modes'
    if e.metric == 'cas':
      images, labels, source = real_data(self.config, split, e.num_real)
      params = classifier.train_classifier(fake, fake_labels, self.num_classes, CAS_EPOCHS,
                                           seed=self.seed)
      acc = classifier.accuracy(params, images, labels, self.num_classes)
      return [acc], (f'a classifier trained {CAS_EPOCHS} epochs on the samples, tested on '
                     f'{len(images)} images of {source}')
    real, source = real_features(self.config, extractor, split, e.num_real, self.mesh, side)
    if e.metric == 'is':
      return list(scores.inception_score(extractor(fake, self.mesh)['logits'])), (
          'none (no real data), 10 splits')
    gen = extractor(fake, self.mesh)['features']
    if e.metric == 'fd':
      return [scores.fid_from_features(real['features'], gen)], source
    if e.metric == 'kid':
      return list(scores.kernel_inception_distance(real['features'], gen)), (
          f'{source}; 100 subsets of up to 1000')
    if e.metric == 'pr':
      pr = scores.precision_recall(real['features'], gen)
      return [pr['precision'], pr['recall']], f'{source}; k=3'
    if e.metric == 'dc':
      dc = scores.density_coverage(real['features'], gen)
      return [dc['density'], dc['coverage']], f'{source}; k=5'
    if e.metric == 'intra_fd':
      return [scores.intra_class_fid(real['features'], real['labels'], gen, fake_labels)], source
    raise AssertionError(e.metric)


def lower_is_better(key: str) -> bool:
  """Distances and divergences improve downwards; scores, precision, recall, modes upwards."""
  return key.removeprefix('eval/').startswith(('fid', 'fd_', 'kid', 'kd_', 'intra_f', 'stacked_kl',
                                                  'reverse_kl'))
