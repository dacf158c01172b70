"""`python -m gan_jax.translate --workdir W --input FILE_OR_DIR --output DIR [--step N | --best]
[--direction ab|ba] [--seed S]`: applies a trained translation or super-resolution generator (the
EMA generator of a `paired` run's checkpoint, default the latest, `--best` the one the run kept
by `config.eval.best_metric`; of a `cycle` run, the generator of `--direction`) to your images,
at their own size, rectangles included, and writes one PNG per input under the input's name. A
run of several seeds (`num_seeds`) translates with `--seed`'s generator, by default its first
seed's.

Inputs are what the model was trained to take: edge maps for edges -> digit, grey images for
colorization, low-resolution images for super-resolution. Colour inputs to a model of grey
sources are converted to their luma; grey inputs to a model of colour sources are repeated.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
from PIL import Image

from gan_jax.data.images import IMAGE_SUFFIXES, decode_image_file
from gan_jax.data.paired import luma
from gan_jax.errors import DataError, EvaluateError, UserError
from gan_jax.evaluate import check_checkpoint_choice, load_workdir_config
from gan_jax.train import families, seeds
from gan_jax.train.run import build_run
from gan_jax.train.samplers import generator_function
from gan_jax.train.state import seed_state


def input_files(path: str) -> list[str]:
  if os.path.isfile(path):
    return [path]
  if not os.path.isdir(path):
    raise DataError(f'--input {path}: no such file or folder')
  files = sorted(os.path.join(path, f) for f in os.listdir(path)
                 if f.lower().endswith(IMAGE_SUFFIXES))
  if not files:
    raise DataError(f'--input {path}: no images ({", ".join(IMAGE_SUFFIXES)}) in the folder')
  return files


def saved_shapes(workdir: str) -> dict[str, tuple[int, ...]]:
  """The data shapes a run's networks were built for (its shapes.json)."""
  path = os.path.join(workdir, 'shapes.json')
  if not os.path.isfile(path):
    raise EvaluateError(f'{path}: not found; it is written when the run starts')
  with open(path) as f:
    return {k: tuple(v) for k, v in json.load(f).items()}


def load_generator(workdir: str, step: int | None = None, direction: str = '',
                   seed: int | None = None, best: bool = False):
  """(generator, its EMA parameters and batch statistics, the source channels, the step) of
  checkpoint `step` (default: the latest; `best`: the run's best); of seed `seed` (default: the
  first) of a run of several seeds."""
  check_checkpoint_choice(step, best)
  config = load_workdir_config(workdir)
  run_seeds = seeds.run_seeds(config)
  if seed is not None and seed not in run_seeds:
    raise EvaluateError(f'--seed {seed}: {workdir} trained seed'
                        + (f's {run_seeds[0]}..{run_seeds[-1]}' if len(run_seeds) > 1
                           else f' {run_seeds[0]}'))
  nets, name, channels = families.get(config.family).translator(
      config, lambda: saved_shapes(workdir), direction, workdir)
  checkpoints = os.path.join(workdir, 'best' if best else 'checkpoints')
  state = build_run(config, nets=nets, checkpoints=checkpoints, step=step, checked=True,
                    command='translate', best=best).state  # Checked as the workdir was read.
  if len(run_seeds) > 1:
    state = seed_state(state, run_seeds.index(run_seeds[0] if seed is None else seed))
  return (nets.generators[name], state.g_ema_params[name], state.g_batch_stats[name], channels,
          int(state.step))


def translate(workdir: str, input_path: str, output_dir: str, step: int | None = None,
              direction: str = '', seed: int | None = None, best: bool = False) -> list[str]:
  """Writes the generator's output for every image of `input_path`; returns the files written."""
  if os.path.exists(output_dir) and not os.path.isdir(output_dir):
    raise DataError(f'--output {output_dir}: is a file; give a folder (it is created if missing)')
  files = input_files(input_path)
  generator, params, batch_stats, channels, step = load_generator(workdir, step, direction, seed,
                                                                  best)
  run = generator_function(generator, None)  # the weights are arguments, not constants
  os.makedirs(output_dir, exist_ok=True)
  written = []
  for file in files:
    image = decode_image_file(file)  # uint8 [H, W, 3]
    image = luma(image[None])[0] if channels == 1 else image
    out = np.asarray(run(params, batch_stats, image[None].astype(np.float32) / 127.5 - 1, None))[0]
    out = np.round((np.clip(out, -1, 1) + 1) * 127.5).astype(np.uint8)
    name = os.path.splitext(os.path.basename(file))[0] + '.png'
    path = os.path.join(output_dir, name)
    Image.fromarray(out[..., 0] if out.shape[-1] == 1 else out).save(path)
    written.append(path)
  return written


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m gan_jax.translate', description=__doc__)
  parser.add_argument('--workdir', required=True, help='a paired (translation or SR) or cycle run')
  parser.add_argument('--input', required=True, help='an image file or a folder of images')
  parser.add_argument('--output', required=True, help='the folder for the outputs')
  parser.add_argument('--step', type=int, default=None, help='checkpoint step (default: latest)')
  parser.add_argument('--best', action='store_true',
                      help='the checkpoint the run kept by config.eval.best_metric (workdir/best)')
  parser.add_argument('--direction', default='', choices=('', 'ab', 'ba'),
                      help='cycle runs: translate domain A to B (ab) or B to A (ba)')
  parser.add_argument('--seed', type=int, default=None,
                      help='runs of several seeds (num_seeds): the seed (default: the first)')
  args = parser.parse_args(argv)
  try:
    written = translate(args.workdir, args.input, args.output, args.step, args.direction,
                        args.seed, args.best)
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(f'{len(written)} images written to {args.output}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
