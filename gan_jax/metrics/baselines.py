"""The baselines a translation or super-resolution run is set beside, scored by the evaluators'
own code on the same held-out pairs: copying the input (translation), bicubic and nearest
upsampling (super-resolution), and the real targets themselves."""

from __future__ import annotations

import jax
import ml_collections
import numpy as np

from gan_jax import data
from gan_jax.metrics import evaluators


def baseline_outputs(config: ml_collections.ConfigDict, count: int, direction: str = '',
                     split: str = '') -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
  """Outputs of the baselines for the first `count` held-out sources of `split` (default
  `dataset.test_split`; of `direction`, for two unpaired domains) in [-1, 1], and the labels of
  each: the sources', and the real targets' own (two unpaired domains' images i show different
  digits where the split does not pair them)."""
  c = config.copy_and_resolve_references()
  c.dataset.split, c.batch_size, c.n_critic = split or c.dataset.test_split, 1, 1
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
  labels = {name: pairs['label'] for name in out}
  labels['real targets'] = pairs.get('target_label', pairs['label'])
  return out, labels


def metric_names(config: ml_collections.ConfigDict) -> list[str]:
  """The logged keys (`eval/...`) of the config's evaluators, standard deviations left out."""
  return [f'eval/{k}' for e in evaluators.entries(config).values()
          for k in evaluators.entry_keys(e) if not k.endswith('_std')]


def score_baselines(config: ml_collections.ConfigDict, num_classes: int = 10
                    ) -> dict[str, dict[str, float]]:
  """{baseline: {eval/key: value}} for every evaluator of `config` (NaN where a baseline does
  not apply), each on that evaluator's number of held-out pairs."""
  kind = evaluators.SampleKind(True, False, num_classes, reference_split=config.dataset.test_split)
  quality = evaluators.Evaluators(config, kind, None)
  count = max(e.num_samples for e in quality.entries.values())
  keys = metric_names(config)
  # Each entry's own held-out pairs: its split (validation, or the test split) and direction.
  where = lambda e: (e.real_split, e.direction)
  outputs = {w: baseline_outputs(config, count, w[1], w[0])
             for w in sorted({where(e) for e in quality.entries.values()})}
  rows = {}
  for label in dict.fromkeys(b for images, _ in outputs.values() for b in images):
    values = {}
    for name, e in quality.entries.items():
      images, labels = outputs[where(e)]
      if label in images:
        targets_of = data.split_name(config.dataset.name,
                                     e.real_split or config.dataset.test_split, e.direction[1:])
        samples = evaluators.Samples(images[label][:e.num_samples], labels[label][:e.num_samples],
                                     label, targets=images['real targets'][:e.num_samples],
                                     targets_of=targets_of)
        values.update(quality.score(name, samples, label)[0])
    rows[label] = {k: values.get(k, float('nan')) for k in keys}
  return rows
