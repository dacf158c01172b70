"""`train_and_evaluate(config, workdir)`: the training loop, logging, evaluation and checkpoints."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import threading
import time
from typing import Any, Callable, Iterator

import jax
import ml_collections
import numpy as np
from absl import logging
from clu import parameter_overview
from jax.experimental import multihost_utils

from gan_jax import figures, parallel
from gan_jax.config import check_precision
from gan_jax.errors import CheckpointError, ConfigError, NonFiniteLossError, WorkdirError
from gan_jax.metrics import evaluators
from gan_jax.train import families, seeds
from gan_jax.train.checks import check
from gan_jax.train.checkpoint import Checkpointer
from gan_jax.train.samplers import described
from gan_jax.train.run import build_run
from gan_jax.train.state import GANState, param_count, seed_state
from gan_jax.train.step import make_train_step
from gan_jax.train.writers import MetricWriter, Progress, create_writer


def _flatten(config: ml_collections.ConfigDict, prefix: str = '') -> dict[str, Any]:
  out = {}
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      out.update(_flatten(value, f'{prefix}{key}.'))
    else:
      out[f'{prefix}{key}'] = str(value) if isinstance(value, (tuple, list)) else value
  return out


class Preview:
  """Draws the family's figure of a state (its `preview`) into the workdir and TensorBoard, and
  returns the scores the figure shows (the mode metrics on toy data)."""

  def __init__(self, draw: Callable[[GANState], tuple[np.ndarray, dict[str, float]]],
               workdir: str, suffix: str = ''):
    self.draw, self.workdir, self.suffix = draw, workdir, suffix

  def __call__(self, state: GANState, writer: MetricWriter) -> dict[str, float]:
    image, scores = self.draw(state)
    if jax.process_index() == 0:
      figures.save_png(self.figure_path(int(state.step)), image)
    writer.write_images(int(state.step), {f'samples{self.suffix}': image[None]})
    return scores

  def figure_path(self, step: int) -> str:
    return os.path.join(self.workdir, f'samples_{step:07d}{self.suffix}.png')


class BestCheckpoint:
  """The state with the best value of one metric so far, in `workdir/best`, apart from the
  latest-K checkpoints; `best.json` records the metric, its value and the step."""

  def __init__(self, workdir: str, metric: str):
    self.key = 'eval/' + metric.removeprefix('eval/')
    self.checkpointer = Checkpointer(os.path.join(workdir, 'best'), keep=1)
    self.record_path = os.path.join(workdir, 'best.json')
    self.value = None
    if os.path.exists(self.record_path):
      with open(self.record_path) as f:
        self.value = json.load(f)['value']

  def update(self, step: int, state: GANState, scalars: dict[str, Any]) -> None:
    value = scalars.get(self.key)
    if value is None or not np.isfinite(value):
      return
    if self.value is None or (value < self.value if evaluators.lower_is_better(self.key)
                              else value > self.value):
      self.value = float(value)
      self.checkpointer.save(step, state)
      if jax.process_index() == 0:
        with open(self.record_path, 'w') as f:
          json.dump({'metric': self.key, 'value': self.value, 'step': step}, f)

  def close(self) -> None:
    self.checkpointer.close()


def _aside_dir(workdir: str, step: int) -> str:
  return os.path.join(workdir, 'set_aside', f'after_{step}')


def _saved_steps(checkpoint_dir: str) -> list[int]:
  if not os.path.isdir(checkpoint_dir):
    return []
  return sorted(int(n) for n in os.listdir(checkpoint_dir) if n.isdigit())


def _resume_step_pending(workdir: str, checkpoint_dir: str, step: int) -> bool:
  """`config.resume_step`: whether the checkpoints after `step` are still to be set aside (once
  per step: re-running the same command then continues from the latest checkpoint). Raises a
  `ConfigError` if there is no checkpoint `step`."""
  if not step or os.path.isdir(_aside_dir(workdir, step)):
    return False
  steps = _saved_steps(checkpoint_dir)
  if step not in steps:
    raise ConfigError(f'config.resume_step: no checkpoint {step} in {checkpoint_dir}; saved steps: '
                      f'{steps}')
  return True


def _set_aside_after(workdir: str, checkpoint_dir: str, step: int) -> None:
  """Moves the checkpoints after `step`, and a copy of the log, to `workdir/set_aside/after_<step>/`,
  so that the run resumes from `step` with nothing deleted. Called once checkpoint `step` has
  restored: a run that cannot resume changes nothing."""
  aside = _aside_dir(workdir, step)
  moved = [s for s in _saved_steps(checkpoint_dir) if s > step]
  os.makedirs(os.path.join(aside, 'checkpoints'))
  for s in moved:
    os.rename(os.path.join(checkpoint_dir, str(s)), os.path.join(aside, 'checkpoints', str(s)))
  jsonl_path = os.path.join(workdir, 'metrics.jsonl')
  if os.path.exists(jsonl_path):  # The resumed run rewrites the rows after `step`.
    shutil.copy2(jsonl_path, os.path.join(aside, 'metrics.jsonl'))
  logging.warning('Resuming from checkpoint %d; checkpoints %s moved to %s.', step, moved, aside)


def init_generator_from(state: GANState, workdir: str) -> GANState:
  """`state` with the generators (and their EMA and batch statistics) of the latest checkpoint
  in `workdir`, a run of the same networks (SRGAN starts from a trained SRResNet)."""
  directory = os.path.join(workdir, 'checkpoints')
  source = Checkpointer(directory, keep=1) if os.path.isdir(directory) else None
  if source is None or source.latest_step() is None:
    raise ConfigError(f'config.init_generator_from: no checkpoints in {directory}; give the '
                      'workdir of a finished run of the same generator')
  try:
    trained = source.restore(state)
  except CheckpointError as e:
    raise CheckpointError(f'config.init_generator_from: {e}') from None
  finally:
    source.close()
  logging.info('Generator from %s, step %d.', directory, int(trained.step))
  return state.replace(g_params=trained.g_params, g_ema_params=trained.g_ema_params,
                       g_batch_stats=trained.g_batch_stats)


@contextlib.contextmanager
def workdir_lock(workdir: str) -> Iterator[None]:
  """Holds `workdir/.lock` for the run (process 0), so that a second run of the same workdir
  stops with one error instead of both writing checkpoints. The OS drops the lock when the
  process ends, however it ends: there are no stale locks."""
  if jax.process_index() != 0:
    yield
    return
  with open(os.path.join(workdir, '.lock'), 'a+') as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      f.seek(0)
      holder = f.read().strip() or 'another process'
      raise WorkdirError(f'--workdir {workdir}: in use by a run still going ({holder}); wait for '
                         'it to end, or give another workdir') from None
    f.truncate(0)
    f.write(f'pid {os.getpid()} on {os.uname().nodename}')
    f.flush()
    yield


class Preemption:
  """SIGTERM (what a TPU VM or Kubernetes sends before taking the machine) asks the loop to stop
  after the step in flight: it saves a checkpoint there and returns. Every process stops at the
  same step (the request is shared across processes)."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self) -> 'Preemption':
    if threading.current_thread() is threading.main_thread():  # Signals reach the main thread.
      self._previous = signal.signal(signal.SIGTERM, self._request)
    return self

  def _request(self, signum, frame) -> None:
    logging.warning('SIGTERM: saving a checkpoint after this step, then stopping.')
    self.requested = True

  def __exit__(self, *exc) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)

  def stop_now(self) -> bool:
    if jax.process_count() == 1:
      return self.requested
    return bool(np.max(multihost_utils.process_allgather(np.int32(self.requested))))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       on_eval: Callable[[int, dict[str, float]], None] | None = None
                       ) -> dict[str, Any]:
  """Trains the GAN a config describes in `workdir`, resuming from its latest checkpoint.

  `on_eval(step, scalars)`, if given, receives the evaluation metrics (`eval/...`) of every step
  that logs some, on every process (a sweep reports them to Ray Tune).
  Returns the last evaluation's scalars, with the paths of the figure and logs.
  """
  config = check(config)
  families.check_devices(config, jax.device_count())
  check_precision(config, jax.devices())
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise WorkdirError(f'--workdir {workdir}: is a file, not a folder; give a new folder, or the '
                       'folder of a run to resume')
  os.makedirs(workdir, exist_ok=True)
  with workdir_lock(workdir), Preemption() as preemption:
    return _train(config, workdir, preemption, on_eval)


def _train(config: ml_collections.ConfigDict, workdir: str, preemption: Preemption,
           on_eval: Callable[[int, dict[str, float]], None] | None) -> dict[str, Any]:
  checkpoint_dir = os.path.join(workdir, 'checkpoints')
  set_aside = _resume_step_pending(workdir, checkpoint_dir, config.resume_step)
  run = build_run(config, checked=True)  # train_and_evaluate checked it.
  dataset, family, nets = run.dataset, run.family, run.nets
  mesh = parallel.make_mesh()
  kind = family.sample_kind(config, nets, dataset)
  evaluators.check(config, kind)
  # num_seeds: each seed is evaluated as its own run would be; one seed is the plain run.
  run_seeds = seeds.run_seeds(config)
  many = len(run_seeds) > 1
  by_seed = [seeds.seed_config(config, s) for s in run_seeds]

  # Extractor weights load here: a missing file stops the run before anything is compiled or written.
  quality = evaluators.Evaluators(config, kind, mesh)
  quality_samples = [family.evaluation_sampler(c, nets, dataset, mesh) for c in by_seed]

  state = run.state
  checkpointer = Checkpointer(checkpoint_dir, config.keep_checkpoints)
  if checkpointer.latest_step() is not None:
    try:
      state = checkpointer.restore(state, config.resume_step if set_aside else None)
    except CheckpointError as e:
      checkpointer.close()  # Else orbax's threads outlive the error, and print their own.
      if e.intact_step is None:
        raise
      raise CheckpointError(
          f'{e}: resume from it with --config.resume_step={e.intact_step} (moves later ones to '
          'set_aside/ in the workdir, deleting nothing)') from None
    if set_aside:  # A fresh manager then sees only the checkpoints that stay.
      checkpointer.close()
      _set_aside_after(workdir, checkpoint_dir, config.resume_step)
      checkpointer = Checkpointer(checkpoint_dir, config.keep_checkpoints)
    logging.info('Resumed from %s at step %d.', checkpointer.directory, int(state.step))
  elif config.init_generator_from:
    state = init_generator_from(state, config.init_generator_from)
  start_step = int(state.step)
  state = parallel.replicate(state, mesh)

  is_main = jax.process_index() == 0
  writer = create_writer(workdir, is_main, start_step)
  jsonl_path = os.path.join(workdir, 'metrics.jsonl')
  if is_main:
    with open(os.path.join(workdir, 'config.json'), 'w') as f:
      f.write(config.to_json_best_effort(indent=2))
    with open(os.path.join(workdir, 'shapes.json'), 'w') as f:  # What the networks were built for.
      json.dump(nets.shapes, f)
  if start_step == 0:
    writer.write_hparams(_flatten(config))
  for side, params in (('Generator', state.g_params), ('Discriminator', state.d_params)):
    parameter_overview.log_parameter_overview(params, include_stats=False, msg=f'{side}s:',
                                              jax_logging_process=0)
  logging.info('Generator: %d parameters; discriminator: %d; %d devices; %d seeds.',
               param_count(state.g_params) // len(run_seeds),
               param_count(state.d_params) // len(run_seeds), jax.device_count(), len(run_seeds))
  logging.info('Process %d of %d; devices: %s', jax.process_index(), jax.process_count(),
               jax.devices())

  best = BestCheckpoint(workdir, config.eval.best_metric) if config.eval.best_metric else None
  train_step = make_train_step(config, nets, mesh)
  previews = [Preview(family.preview(c, nets, dataset.with_seed(c.seed), mesh), workdir,
                      f'_seed{c.seed}' if many else '') for c in by_seed]
  batches = seeds.SeedBatches(dataset, run_seeds) if many else dataset
  per_seed = lambda state: ([seed_state(state, i) for i in range(len(run_seeds))] if many
                            else [state])
  report = Progress(writer, config.num_steps, config.log_every)
  eval_scalars: dict[str, float] = {}
  start_time = time.time()
  try:
    for step in range(start_step + 1, config.num_steps + 1):
      batch = parallel.shard_batch(batches.batch(step - 1), mesh, sample_axis=2 if many else 1)
      state, train_metrics = train_step(state, batch)
      report(step)
      preempted = preemption.stop_now()
      last = step == config.num_steps
      log = step % config.log_every == 0 or last
      # A preempted run's rows stay those of the uninterrupted run; only a checkpoint is added.
      save = step % config.checkpoint_every == 0 or last or preempted
      scalars = {}
      if log or save:  # Only here does the loop wait for the device.
        # Checked before every save, so that every checkpoint kept is a good one.
        scalars = jax.device_get(train_metrics)
        if many:
          scalars = seeds.summarize(seeds.split_metrics(scalars, len(run_seeds)), run_seeds)
        bad = [k for k, v in scalars.items() if not np.isfinite(v)]
        if bad:
          writer.write_scalars(step, scalars)
          good = checkpointer.latest_step()
          kept = (f'keeping the last good checkpoint (step {good}) in {checkpointer.directory}'
                  if good is not None else 'no checkpoint was written yet')
          raise NonFiniteLossError(f'step {step}: {", ".join(sorted(bad))} not finite; stopped, {kept}')
        if not log:
          scalars = {}
      views = None  # each seed's state, sliced once per step that evaluates
      if step % config.eval_every == 0 or last:
        views = per_seed(state)
        eval_scalars = seeds.summarize(
            [preview(s, writer) for preview, s in zip(previews, views)], run_seeds)
        scalars.update(eval_scalars)
      if names := quality.due(step, last):
        results = [quality.with_seed(c.seed)(sampler(s), names,
                                             described(config, step, sampler.what,
                                                       getattr(sampler, 'who', None)))
                   for c, sampler, s in zip(by_seed, quality_samples, views or per_seed(state))]
        quality_scalars = seeds.summarize([r for r, _ in results], run_seeds)
        protocols = seeds.summarize_texts([t for _, t in results], run_seeds)
        eval_scalars = {**eval_scalars, **quality_scalars}
        scalars.update(quality_scalars)
        writer.write_texts(step, protocols)
      if scalars:
        writer.write_scalars(step, scalars)
      if save:
        # The log first: a run killed after this checkpoint still has every row up to it.
        writer.flush()
        checkpointer.save(step, state)
      if best is not None:
        best.update(step, state, scalars)
      # After the save: a trial a sweep's scheduler stops here keeps this step's checkpoint.
      if on_eval is not None and (evals := {k: float(v) for k, v in scalars.items()
                                            if k.startswith('eval/')}):
        on_eval(step, evals)
      if preempted:
        logging.warning('Stopped at step %d (SIGTERM), checkpoint saved; the same command '
                        'resumes.', step)
        break
  finally:
    checkpointer.close()  # Waits for a save in flight.
    if best is not None:
      best.close()
    writer.flush()
    writer.close()

  final_step = int(state.step)
  return {
      'step': final_step,
      'preempted': final_step < config.num_steps,
      **eval_scalars,
      'seconds': time.time() - start_time,
      'figure': previews[0].figure_path(final_step),
      'metrics': jsonl_path,
      'checkpoints': checkpointer.directory,
  }
