"""Each sample-quality metric of `config.evals` as one record: the names it logs and which way
each improves, the fewest samples it needs, what it needs of the samples and the real data, its
own checks, and its scoring function. `evaluators.py` runs the records; nothing else describes a
metric.

A scoring function is handed an `Inputs`: the samples (a family's `Samples`), the entry, the
extractor, and named functions that read the real data the metric compares with, so that a metric
reads only what it uses and knows nothing of models, states or datasets.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import ml_collections
import numpy as np
from jax.sharding import Mesh

from gan_jax.data.paired import downsample
from gan_jax.metrics import classifier, scores
from gan_jax.metrics.extractors import Extractor
from gan_jax.metrics.scores import MetricInputError

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
  targets: np.ndarray | None = None        # translations: image i's true output, read by the
                                           # same loader as its source
  targets_of: str = ''                     # where `targets` come from, for the protocol


Sampler = Callable[[str, int], Samples]


class SampleKind(NamedTuple):
  """What a family's samples are, for the evaluators' checks and their defaults."""
  is_image_data: bool     # images (else points of a toy dataset)
  conditional: bool       # drawn for given class labels
  num_classes: int        # of the dataset
  data_shape: tuple = ()  # of one sample
  reference_split: str = ''  # the real split scores compare with where an entry names none
  directions: tuple[str, ...] = ()  # translation directions an entry must name one of (ab, ba)
  # Whether the outputs of the held-out sources of (split, direction) have true targets.
  has_targets: Callable[[str, str], bool] = lambda split, direction: False


class Inputs(NamedTuple):
  """What a metric's scoring function is handed for one entry."""
  samples: Samples
  entry: ml_collections.ConfigDict   # the filled-in `evals` entry
  extractor: Extractor | None        # None for pixel metrics
  mesh: Mesh | None
  # () -> (extractor outputs on the entry's real images, their description); cached on disk.
  real_features: Callable[[], tuple[dict[str, np.ndarray], str]]
  # count -> (the first `count` real images in [-1, 1], their labels, their name).
  real_images: Callable[[int], tuple[np.ndarray, np.ndarray, str]]
  seed: int                          # seeds what a metric trains (CAS's classifier)
  num_classes: int
  scale: int                         # super-resolution's factor


Score = tuple[list[float], str]  # the values, in the order of the keys, and the reference's text


@dataclasses.dataclass(frozen=True)
class Metric:
  """One metric of `config.evals`."""
  name: str
  about: str
  # The names it logs, given the extractor's suffix ('' for the Inception, else '_<name>'); a
  # standard deviation's name ends in '_std' and is not listed in `lower_is_better`.
  keys: Callable[[str], list[str]]
  lower_is_better: tuple[bool, ...]  # for each name that is not a standard deviation
  min_samples: int
  score: Callable[[Inputs], Score]
  extractor: bool = True       # scores an extractor's outputs (else pixels)
  classifier: bool = False     # needs a classifier of the dataset's classes, not the Inception
  extractors: tuple[str, ...] = ()  # the only extractors it takes (empty: any)
  per_channel: bool = False    # classifies each colour channel as a grey image
  needs: frozenset[str] = frozenset()  # of the samples: 'targets', 'labels', 'classes'
  default_split: str = ''      # the real split it reads where the entry names none ('': the
                               # family's reference split)
  # Its own check of a filled-in entry against the samples' kind: an error message, or ''.
  check: Callable[[ml_collections.ConfigDict, SampleKind], str] = lambda entry, kind: ''


def _features(inputs: Inputs) -> tuple[np.ndarray, dict[str, np.ndarray], str]:
  """(the samples' features, the real ones, the real ones' description)."""
  real, source = inputs.real_features()
  return inputs.extractor(inputs.samples.images, inputs.mesh)['features'], real, source


def fd(inputs: Inputs) -> Score:
  gen, real, source = _features(inputs)
  return [scores.fid_from_features(real['features'], gen)], source


def inception_score(inputs: Inputs) -> Score:
  logits = inputs.extractor(inputs.samples.images, inputs.mesh)['logits']
  return list(scores.inception_score(logits)), 'none (no real data), 10 splits'


def kid(inputs: Inputs) -> Score:
  gen, real, source = _features(inputs)
  return (list(scores.kernel_inception_distance(real['features'], gen)),
          f'{source}; 100 subsets of up to 1000')


def precision_recall(inputs: Inputs) -> Score:
  gen, real, source = _features(inputs)
  pr = scores.precision_recall(real['features'], gen)
  return [pr['precision'], pr['recall']], f'{source}; k=3'


def density_coverage(inputs: Inputs) -> Score:
  gen, real, source = _features(inputs)
  dc = scores.density_coverage(real['features'], gen)
  return [dc['density'], dc['coverage']], f'{source}; k=5'


def intra_fd(inputs: Inputs) -> Score:
  gen, real, source = _features(inputs)
  return [scores.intra_class_fid(real['features'], real['labels'], gen,
                                 inputs.samples.labels)], source


def cas(inputs: Inputs) -> Score:
  images, labels, source = inputs.real_images(inputs.entry.num_real)
  params = classifier.train_classifier(inputs.samples.images, inputs.samples.labels,
                                       inputs.num_classes, CAS_EPOCHS, seed=inputs.seed)
  acc = classifier.accuracy(params, images, labels, inputs.num_classes)
  return [acc], (f'a classifier trained {CAS_EPOCHS} epochs on the samples, tested on '
                 f'{len(images)} images of {source}')


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


def stacked_modes(inputs: Inputs) -> Score:
  m = stacked_mnist_modes(inputs.samples.images, inputs.extractor, inputs.mesh)
  return [m['stacked_modes'], m['stacked_kl']], '1000 uniform modes'


def _targets(inputs: Inputs) -> np.ndarray:
  """The samples' true targets, output i against target i."""
  samples = inputs.samples
  if samples.targets is None or len(samples.targets) < len(samples.images):
    raise MetricInputError(f'{inputs.entry.metric}: compares each output with its target, and '
                           'the sampler gave none for some outputs')
  return samples.targets[:len(samples.images)]


def psnr(inputs: Inputs) -> Score:
  fake, crop = inputs.samples.images, inputs.entry.crop
  values = scores.psnr(fake, _targets(inputs), crop)
  return list(values.values()), (f'the targets of {inputs.samples.targets_of} (the first '
                                 f'{len(fake)}); border crop {crop}; Y of BT.601')


def ssim(inputs: Inputs) -> Score:
  fake, crop = inputs.samples.images, inputs.entry.crop
  values = scores.ssim(fake, _targets(inputs), crop)
  return list(values.values()), (f'the targets of {inputs.samples.targets_of} (the first '
                                 f'{len(fake)}); border crop {crop}; Y of BT.601')


def lr_psnr(inputs: Inputs) -> Score:
  """Consistency (super-resolution): shrunk back, the output should be its input."""
  def shrink(x):
    pixels = np.round((np.clip(x, -1, 1) + 1) * 127.5).astype(np.uint8)
    return downsample(pixels, inputs.scale).astype(np.float32) / 127.5 - 1
  value = scores.psnr(shrink(inputs.samples.images), shrink(_targets(inputs)))['psnr']
  return [value], (f'the targets of {inputs.samples.targets_of} shrunk {inputs.scale}x '
                   '(antialiased bicubic, 8 bits): the sources')


def accuracy(inputs: Inputs) -> Score:
  predicted = inputs.extractor(inputs.samples.images, inputs.mesh)['logits'].argmax(-1)
  return [float(np.mean(predicted == inputs.samples.labels))], inputs.samples.labels_of


def colorfulness(inputs: Inputs) -> Score:
  return [scores.colorfulness(inputs.samples.images)], ("none (compare with the real images' "
                                                         'value)')


def _per_class(entry: ml_collections.ConfigDict, kind: SampleKind) -> str:
  if entry.num_samples < 2 * kind.num_classes:
    return (f'num_samples: intra_fd needs at least 2 per class ({2 * kind.num_classes}), got '
            f'{entry.num_samples}')
  return ''


def _named(fd_name: str, s: str) -> str:
  """'fid' / 'kid' with the Inception's features, 'fd_<extractor>' / 'kd_<extractor>' else."""
  return f'{fd_name[0]}i{fd_name[1:]}' if not s else f'{fd_name}{s}'


_RECORDS = (
    Metric('fd', 'Fréchet distance ("FID" when the extractor is the Inception)',
           lambda s: [_named('fd', s)], (True,), 2, fd),
    Metric('is', 'Inception(-like) score, 10 splits', lambda s: [f'is{s}', f'is{s}_std'],
           (False,), 10, inception_score),
    Metric('kid', 'kernel (Inception) distance',
           lambda s: [_named('kd', s), f'{_named("kd", s)}_std'], (True,), 2, kid),
    Metric('pr', 'improved precision and recall, k = 3',
           lambda s: [f'precision{s}', f'recall{s}'], (False, False), 4, precision_recall),
    Metric('dc', 'density and coverage, k = 5', lambda s: [f'density{s}', f'coverage{s}'],
           (False, False), 6, density_coverage),
    Metric('intra_fd', 'mean per-class Fréchet distance (conditional models)',
           lambda s: [f'intra_{_named("fd", s)}'], (True,), 2, intra_fd,
           needs=frozenset({'classes'}), check=_per_class),
    Metric('cas', 'classification accuracy score: trained on samples, tested on real data',
           lambda s: ['cas'], (False,), 10, cas, needs=frozenset({'classes'}),
           default_split='test'),
    Metric('stacked_modes', 'Stacked-MNIST: modes (of 1000) covered and KL to uniform',
           lambda s: ['stacked_modes', 'stacked_kl'], (False, True), 1, stacked_modes,
           extractors=('mnist_cnn',), per_channel=True),
    Metric('psnr', 'PSNR in dB of outputs against their targets, all channels and Y',
           lambda s: ['psnr', 'psnr_y'], (False, False), 1, psnr, extractor=False,
           needs=frozenset({'targets'})),
    Metric('lr_psnr', 'super-resolution: PSNR of the output shrunk back against the input',
           lambda s: ['lr_psnr'], (False,), 1, lr_psnr, extractor=False,
           needs=frozenset({'targets'})),
    Metric('ssim', 'SSIM of outputs against their targets, all channels and Y',
           lambda s: ['ssim', 'ssim_y'], (False, False), 1, ssim, extractor=False,
           needs=frozenset({'targets'})),
    Metric('accuracy', "the extractor's (a dataset classifier's) accuracy on the outputs",
           lambda s: [f'accuracy{s}'], (False,), 1, accuracy, classifier=True,
           needs=frozenset({'labels'})),
    Metric('colorfulness', "Hasler & Süsstrunk's colourfulness, to set beside the real images'",
           lambda s: ['colorfulness'], (False,), 1, colorfulness, extractor=False),
)
METRICS: dict[str, Metric] = {m.name: m for m in _RECORDS}
