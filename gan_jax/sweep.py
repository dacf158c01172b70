"""Hyperparameter sweeps: `get_sweep(arg)` beside an experiment's `get_config(arg)`, run on Ray Tune.

An experiment file may define `get_sweep(arg)` returning plain data (so importing a config never
imports Ray):

    dict(
        params={
            'optim.g_lr': {'loguniform': (5e-5, 1e-3)},  # a distribution, drawn per trial
            'optim.d_b1': {'choice': (0.0, 0.5)},        # also {'uniform': (low, high)}
            'n_critic': [1, 2, 5],                       # a list: every value (a grid axis)
        },
        metric='fid',        # an evaluation metric the config logs; its name says which way is better
        num_trials=12,       # a multiple of the grid's size (3 here): each grid point num_trials/3 times
        scheduler='asha',    # early stopping: 'asha', 'median', or None (every trial runs to the end)
    )

`python launch.py --config X.py --workdir DIR --sweep` runs it (`run`): each trial is an ordinary
gan_jax run in `DIR/trials/<trial id>/` (checkpoints, metrics.jsonl, TensorBoard events), on
`--trial_workers` processes (Ray actors reserved together in a placement group; on TPU, one per
host of a slice) that join as one multi-process jax run, reporting its evaluation metrics to Tune
as they are logged. The same command resumes an interrupted sweep: finished trials are kept,
unfinished ones continue from their own checkpoints. At the end, a table of trials x values x
the best metric is printed and written to `DIR/sweep.md` and `DIR/sweep.csv`.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import difflib
import io
import json
import math
import os
import socket
from typing import Any

import ml_collections
import numpy as np

from gan_jax.errors import ConfigError, SweepError

# This module is light to import (the config checks and jax are imported where used): every Ray
# process that runs a trial imports it.

DISTRIBUTIONS = ('loguniform', 'uniform', 'choice')
SCHEDULERS = ('asha', 'median')
SPEC_FIELDS = ('params', 'metric', 'num_trials', 'scheduler')
TRIAL_FILE = 'trial.json'  # in each trial folder: the trial's values and where it ran
INSTALL = "pip install -e '.[sweep]' (Ray Tune, pinned)"
# A trial the cluster loses (a preempted host) is run again, resuming from its checkpoint.
MAX_TRIAL_FAILURES = 3


@dataclasses.dataclass(frozen=True)
class Sweep:
  """A checked `get_sweep` result."""
  params: dict[str, Any]  # config key -> list of values (grid) or {distribution: args}
  metric: str             # without 'eval/'
  num_trials: int
  scheduler: str | None

  @property
  def mode(self) -> str:
    from gan_jax.metrics import evaluators
    return 'min' if evaluators.lower_is_better(self.metric) else 'max'

  @property
  def grid_size(self) -> int:
    return math.prod(len(v) for v in self.params.values() if isinstance(v, list))


def apply_values(config: ml_collections.ConfigDict, values: dict[str, Any]
                 ) -> ml_collections.ConfigDict:
  """A copy of `config` with dotted keys set to `values`; an unknown key or a value of the wrong
  type raises `SweepError` naming the key."""
  out = copy.deepcopy(config)
  for key, value in values.items():
    value = value.item() if isinstance(value, np.generic) else value
    *parents, leaf = key.split('.')
    node = out
    for i, name in enumerate(parents):
      node = node.get(name) if isinstance(node, ml_collections.ConfigDict) else None
      if not isinstance(node, ml_collections.ConfigDict):
        raise SweepError(f"sweep param '{key}': '{'.'.join(parents[:i + 1])}' is not a group of "
                         'config fields; sweep keys are dotted config fields such as optim.g_lr')
    if leaf not in node:
      close = difflib.get_close_matches(leaf, list(node.keys()), n=3)
      hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else (
          'the fields are those of gan_jax/config.py:base_config and the family'"'"'s FIELDS')
      raise SweepError(f"sweep param '{key}': not a config field; {hint}")
    try:
      node[leaf] = value
    except (TypeError, ValueError) as e:
      raise SweepError(f"sweep param '{key}': value {value!r} does not fit the field ({e})") from None
  return out


def _probe_values(key: str, space: Any) -> list[Any]:
  """The values of one parameter's space to check against the config: every listed value, or a
  distribution's bounds."""
  if isinstance(space, list):
    if not space:
      raise SweepError(f"sweep param '{key}': an empty list of values")
    return list(space)
  if isinstance(space, dict) and len(space) == 1:
    (kind, args), = space.items()
    if kind not in DISTRIBUTIONS:
      raise SweepError(f"sweep param '{key}': unknown distribution {kind!r}; use one of "
                       f'{DISTRIBUTIONS}, or a list of values')
    args = list(args) if isinstance(args, (list, tuple)) else None
    if kind == 'choice':
      if not args:
        raise SweepError(f"sweep param '{key}': choice needs a non-empty list of values")
      return args
    if (args is None or len(args) != 2 or not all(isinstance(a, (int, float)) for a in args)
        or not args[0] < args[1] or (kind == 'loguniform' and args[0] <= 0)):
      raise SweepError(f"sweep param '{key}': {kind} needs (low, high) with "
                       f"{'0 < ' if kind == 'loguniform' else ''}low < high, got {space[kind]!r}")
    return [float(a) for a in args]
  raise SweepError(f"sweep param '{key}': expected a list of values or one of "
                   f"{{'loguniform': (low, high)}}, {{'uniform': (low, high)}}, "
                   f"{{'choice': [...]}}; got {space!r}")


def check_sweep(spec: Any, config: ml_collections.ConfigDict) -> Sweep:
  """Checks a `get_sweep` result against the locked config it sweeps: every key a field, every
  value one the config accepts, the metric one it logs. Raises `SweepError` before any trial."""
  from gan_jax.train.checks import check, logged_metrics
  if not isinstance(spec, dict):
    raise SweepError(f'get_sweep: expected a dict of {SPEC_FIELDS}, got {type(spec).__name__}')
  unknown = sorted(set(spec) - set(SPEC_FIELDS))
  if unknown:
    raise SweepError(f'get_sweep: unknown field(s) {unknown}; known: {list(SPEC_FIELDS)}')
  params = spec.get('params')
  if not isinstance(params, dict) or not params:
    raise SweepError("get_sweep: 'params' must map config keys to values, e.g. "
                     "{'optim.g_lr': {'loguniform': (1e-4, 1e-3)}}")
  for key, space in params.items():
    for value in _probe_values(key, space):
      try:
        check(apply_values(config, {key: value}))
      except ConfigError as e:
        raise SweepError(f"sweep param '{key}' = {value!r}: {e}") from None
  metric = spec.get('metric')
  known = logged_metrics(config)
  if not isinstance(metric, str) or metric.removeprefix('eval/') not in known:
    raise SweepError(f'get_sweep: metric {metric!r} is not logged by this config; its metrics: '
                     f'{sorted(known)}')
  scheduler = spec.get('scheduler')
  if scheduler is not None and scheduler not in SCHEDULERS:
    raise SweepError(f"get_sweep: scheduler {scheduler!r}; use one of {SCHEDULERS} or None")
  sweep = Sweep({k: (list(v) if isinstance(v, list) else dict(v)) for k, v in params.items()},
                metric.removeprefix('eval/'), spec.get('num_trials', 0), scheduler)
  if (not isinstance(sweep.num_trials, int) or sweep.num_trials <= 0
      or sweep.num_trials % sweep.grid_size):
    raise SweepError(f'get_sweep: num_trials {sweep.num_trials!r} must be a positive multiple of '
                     f'the grid size {sweep.grid_size} (the product of the listed values)')
  return sweep


def load_sweep(module: Any, arg: str | None, config: ml_collections.ConfigDict) -> Sweep:
  """The checked sweep of an experiment module (the `--config` file)."""
  get_sweep = getattr(module, 'get_sweep', None)
  if get_sweep is None:
    raise SweepError(f'--sweep: {module.__file__} defines no get_sweep(arg); add one beside '
                     'get_config (see gan_jax/sweep.py)')
  return check_sweep(get_sweep(arg), config)


# ---------------------------------------------------------------------------------------------
# Results: read from the trial folders, so a resumed sweep's table covers every trial.


def trial_rows(workdir: str, sweep: Sweep) -> list[dict[str, Any]]:
  """One row per trial folder: its values, steps done, and the best value of the metric with
  its step, best first (trials without the metric yet last)."""
  rows = []
  trials = os.path.join(workdir, 'trials')
  for name in sorted(os.listdir(trials)) if os.path.isdir(trials) else []:
    path = os.path.join(trials, name, TRIAL_FILE)
    if not os.path.exists(path):
      continue
    with open(path) as f:
      info = json.load(f)
    best, best_step, last_step = None, None, 0
    log = os.path.join(trials, name, 'metrics.jsonl')
    if os.path.exists(log):
      with open(log) as f:
        for line in f:
          record = json.loads(line)
          last_step = max(last_step, record['step'])
          value = record.get(f'eval/{sweep.metric}')
          if value is None or not np.isfinite(value):
            continue
          if best is None or (value < best if sweep.mode == 'min' else value > best):
            best, best_step = value, record['step']
    rows.append({'trial': name, **info['values'], 'steps': last_step, sweep.metric: best,
                 'at step': best_step})
  sign = 1 if sweep.mode == 'min' else -1
  return sorted(rows, key=lambda r: (r[sweep.metric] is None, sign * (r[sweep.metric] or 0)))


def _cell(value: Any) -> str:
  if isinstance(value, float):
    return f'{value:.4g}'
  return '' if value is None else str(value)


def write_table(workdir: str, sweep: Sweep) -> str:
  """Writes `sweep.md` and `sweep.csv` in `workdir`; returns the Markdown table."""
  rows = trial_rows(workdir, sweep)
  columns = ['trial', *sweep.params, 'steps', sweep.metric, 'at step']
  better = 'lower' if sweep.mode == 'min' else 'higher'
  lines = [f'Sweep of {len(rows)} trials; best {sweep.metric} ({better} is better) of each, '
           'from its metrics.jsonl.', '',
           '| ' + ' | '.join(columns) + ' |', '|' + '---|' * len(columns)]
  lines += ['| ' + ' | '.join(_cell(r.get(c)) for c in columns) + ' |' for r in rows]
  table = '\n'.join(lines) + '\n'
  with open(os.path.join(workdir, 'sweep.md'), 'w') as f:
    f.write(table)
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, columns, extrasaction='ignore')
  writer.writeheader()
  writer.writerows(rows)
  with open(os.path.join(workdir, 'sweep.csv'), 'w') as f:
    f.write(buffer.getvalue())
  return table


# ---------------------------------------------------------------------------------------------
# Running on Ray. Everything below imports Ray inside functions: it is an optional extra.


@dataclasses.dataclass(frozen=True)
class TrialScale:
  """The processes of one trial: `workers` of `resources` each; on TPU, one process per host of
  a slice of `topology`."""
  workers: int = 1
  resources: dict[str, float] = dataclasses.field(default_factory=lambda: {'CPU': 1})
  topology: str = ''          # TPU slice topology, e.g. '4x4'
  accelerator_type: str = ''  # e.g. 'TPU-V6E'

  @property
  def use_tpu(self) -> bool:
    return bool(self.topology)


def trial_scale(workers: int = 1, resources: str = 'CPU=1', tpu_topology: str = '',
                accelerator_type: str = '') -> TrialScale:
  """The processes of each trial from launch.py's flags: `resources` as 'NAME=AMOUNT,...' per
  process; a TPU topology makes each trial one TPU slice."""
  if workers < 1:
    raise SweepError(f'--trial_workers: must be at least 1, got {workers}')
  per_worker = {}
  for item in filter(None, resources.split(',')):
    name, _, amount = item.partition('=')
    try:
      per_worker[name.strip()] = float(amount)
    except ValueError:
      raise SweepError(f'--trial_resources: {item!r}; give NAME=AMOUNT, e.g. CPU=1 or TPU=4'
                       ) from None
  if tpu_topology and not accelerator_type:
    raise SweepError('--trial_tpu_topology: give the slice\'s --trial_accelerator_type too, '
                     'e.g. TPU-V4')
  return TrialScale(workers, per_worker, topology=tpu_topology, accelerator_type=accelerator_type)


def _search_space(sweep: Sweep) -> dict[str, Any]:
  from ray import tune
  space = {}
  for key, value in sweep.params.items():
    if isinstance(value, list):
      space[key] = tune.grid_search(value)
    else:
      (kind, args), = value.items()
      space[key] = tune.choice(list(args)) if kind == 'choice' else getattr(tune, kind)(*args)
  return space


def _scheduler(sweep: Sweep, config: ml_collections.ConfigDict):
  """Early stopping on the reported `step`, first allowed after the first evaluation."""
  from ray.tune.schedulers import ASHAScheduler, MedianStoppingRule

  from gan_jax.metrics import evaluators
  grace = min(config.num_steps, min(
      [config.eval_every] + [e.every for e in evaluators.entries(config).values()]))
  if sweep.scheduler == 'asha':
    return ASHAScheduler(time_attr='step', max_t=config.num_steps, grace_period=grace)
  if sweep.scheduler == 'median':
    return MedianStoppingRule(time_attr='step', grace_period=grace)
  return None


def _free_address() -> str:
  with socket.socket() as s:
    s.bind(('', 0))
    port = s.getsockname()[1]
  import ray.util
  return f'{ray.util.get_node_ip_address()}:{port}'


def _reported(step: int, scalars: dict[str, float]) -> dict[str, float]:
  """What a trial reports to Tune: the step, and the evaluation metrics by their names."""
  return {'step': step, **{k.removeprefix('eval/'): v for k, v in scalars.items()}}


class TrialProcess:
  """One process of a trial (a Ray actor, one per host on a TPU slice): joins the trial's other
  processes, trains, and keeps each evaluation for the trial to report to Tune."""

  def __init__(self):
    self.evaluations: list[dict[str, float]] = []

  def coordinator_address(self) -> str:
    return _free_address()

  def train(self, config: ml_collections.ConfigDict, values: dict[str, Any], workdir: str,
            address: str, world: int, rank: int) -> None:
    import jax

    from gan_jax.parallel import initialize_distributed
    from gan_jax.train import train_and_evaluate
    if world > 1:
      initialize_distributed(address, world, rank)
    os.makedirs(workdir, exist_ok=True)
    if jax.process_index() == 0:
      with open(os.path.join(workdir, TRIAL_FILE), 'w') as f:
        json.dump({'values': values, 'processes': jax.process_count(),
                   'devices': jax.device_count()}, f)
    result = train_and_evaluate(config, workdir, on_eval=lambda step, scalars:
                                self.evaluations.append(_reported(step, scalars)))
    if result['preempted']:  # Stopped by SIGTERM with a checkpoint: fail, so Tune runs it again.
      raise RuntimeError(f'trial stopped by SIGTERM at step {result["step"]}; its rerun resumes')

  def evaluations_from(self, start: int) -> list[dict[str, float]]:
    return self.evaluations[start:]


def _finished(workdir: str, num_steps: int) -> bool:
  checkpoints = os.path.join(workdir, 'checkpoints')
  return os.path.isdir(checkpoints) and str(num_steps) in os.listdir(checkpoints)


def _last_evaluation(workdir: str) -> tuple[int, dict[str, float]]:
  """The step and `eval/` scalars of the last evaluation in a run's metrics.jsonl."""
  step, scalars = 0, {}
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    for line in f:
      record = json.loads(line)
      evals = {k: v for k, v in record.items() if k.startswith('eval/') and
               isinstance(v, (int, float))}
      if evals:
        step, scalars = record['step'], evals
  return step, scalars


def _reserve(scale: TrialScale):
  """(the trial's processes as Ray actors, a function releasing them): reserved together in one
  placement group (on TPU, a slice with one bundle per host). Both belong to the trial; they are
  released when it ends, and go with it if it is killed."""
  import ray
  from ray.util.placement_group import placement_group, remove_placement_group
  from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
  if scale.use_tpu:
    from ray.util.tpu import get_tpu_version_from_type, slice_placement_group
    tpu_slice = slice_placement_group(scale.topology,
                                      get_tpu_version_from_type(scale.accelerator_type))
    group, release_group = tpu_slice.placement_group, tpu_slice.shutdown
  else:
    group = placement_group([dict(scale.resources)] * scale.workers, strategy='PACK')
    release_group = lambda: remove_placement_group(group)
  ray.get(group.ready())
  actor = ray.remote(max_concurrency=2)(TrialProcess)  # Answers evaluations_from while it trains.
  processes = []
  for i, bundle in enumerate(group.bundle_specs):
    bundle = dict(bundle)
    processes.append(actor.options(
        num_cpus=bundle.pop('CPU', 0), num_gpus=bundle.pop('GPU', 0),
        memory=bundle.pop('memory', None), resources=bundle,
        scheduling_strategy=PlacementGroupSchedulingStrategy(group, i)).remote())

  def release():
    for process in processes:
      ray.kill(process)
    release_group()
  return processes, release


def _trial(values: dict[str, Any], *, base: ml_collections.ConfigDict, workdir: str,
           scale: TrialScale) -> None:
  """One trial (a Tune function trainable): `scale`'s processes training the `base` config with
  `values` in `workdir/trials/<trial id>` as one multi-process jax run, each evaluation reported
  to Tune as it is logged. A process's error fails the trial, which Tune runs again."""
  import ray
  from ray import tune

  trial_id = tune.get_context().get_trial_id()
  trial_dir = os.path.join(workdir, 'trials', trial_id)
  if _finished(trial_dir, base.num_steps):
    # Finished before the sweep was interrupted, but not yet recorded by Tune: its last
    # evaluation is the result, and nothing in its folder is touched.
    step, scalars = _last_evaluation(trial_dir)
    tune.report(_reported(step, scalars))
    return
  processes, release = _reserve(scale)
  try:
    address = ray.get(processes[0].coordinator_address.remote())
    config = apply_values(base, values)
    runs = [p.train.remote(config, values, trial_dir, address, len(processes), rank)
            for rank, p in enumerate(processes)]
    reported, pending = 0, runs
    while pending:
      done, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
      ray.get(done)  # Raises a process's error at once.
      for evaluation in ray.get(processes[0].evaluations_from.remote(reported)):
        tune.report(evaluation)
        reported += 1
  finally:
    release()


def run(config: ml_collections.ConfigDict, sweep: Sweep, workdir: str,
        scale: TrialScale = TrialScale(), address: str | None = None,
        max_concurrent_trials: int = 0) -> str:
  """Runs (or resumes) `sweep` over `config` in `workdir` on Ray Tune; returns the result table.

  `address`: a Ray cluster to join ('auto' on a cluster's head node); None starts Ray locally.
  """
  try:
    import ray
    from ray import tune
    from ray.tune.search import BasicVariantGenerator
  except ImportError:
    raise SweepError(f'--sweep needs Ray, an optional extra: {INSTALL}') from None
  workdir = os.path.abspath(workdir)
  os.makedirs(workdir, exist_ok=True)
  if not ray.is_initialized():
    ray.init(address=address, include_dashboard=False, log_to_driver=False)
  # The trial itself only waits on its processes: it holds no CPU, so they can use them all
  # (Ray needs some resource in a request: a token of memory).
  trainable = tune.with_resources(
      tune.with_parameters(_trial, base=config, workdir=workdir, scale=scale),
      {'CPU': 0, 'memory': 2**20})
  experiment = os.path.join(workdir, 'tune')
  if tune.Tuner.can_restore(experiment):  # The same command resumes: finished trials are kept.
    tuner = tune.Tuner.restore(experiment, trainable, resume_unfinished=True, resume_errored=True)
  else:
    tuner = tune.Tuner(
        trainable, param_space=_search_space(sweep),
        tune_config=tune.TuneConfig(
            metric=sweep.metric, mode=sweep.mode, num_samples=sweep.num_trials // sweep.grid_size,
            scheduler=_scheduler(sweep, config), max_concurrent_trials=max_concurrent_trials or None,
            # The config's seed also fixes the values drawn for the trials.
            search_alg=BasicVariantGenerator(random_state=config.seed)),
        run_config=tune.RunConfig(
            name='tune', storage_path=workdir, verbose=1,
            failure_config=tune.FailureConfig(max_failures=MAX_TRIAL_FAILURES)))
  tuner.fit()
  return write_table(workdir, sweep)
