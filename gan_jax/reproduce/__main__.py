"""python -m gan_jax.reproduce NAME [--budget short|medium|full] [--out DIR], or --list."""

from __future__ import annotations

import argparse
import os
import sys
import time

from gan_jax import reproduce
from gan_jax.errors import UserError


def check(name: str, budget: str, out: str):
  """The figure's module; bad input as a UserError naming what to change."""
  if name not in reproduce.NAMES:
    raise UserError(f"unknown figure '{name}'; known: {', '.join(reproduce.NAMES)} "
                    '(python -m gan_jax.reproduce --list)')
  figure = reproduce.module(name)
  if budget not in figure.BUDGETS:
    raise UserError(f"--budget {budget}: {name} offers {', '.join(figure.BUDGETS)}")
  if os.path.exists(out) and not os.path.isdir(out):
    raise UserError(f'--out {out}: is a file; give a folder (it is created if missing)')
  return figure


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m gan_jax.reproduce', description=__doc__)
  parser.add_argument('name', nargs='?')
  parser.add_argument('--budget', default='short', choices=reproduce.BUDGETS,
                      help='short: minutes on 2 CPU cores; full: the paper\'s protocol')
  parser.add_argument('--out', default='', help='folder for the table, figures and runs '
                      '(default runs/reproduce/NAME)')
  parser.add_argument('--list', action='store_true', help='the figures and their budgets')
  args = parser.parse_args(argv)
  if args.list or not args.name:
    print('| name | paper | figure | budgets |\n|---|---|---|---|')
    for name in reproduce.NAMES:
      m = reproduce.module(name)
      print(f'| {name} | {m.PAPER} | {m.FIGURE} | {", ".join(m.BUDGETS)} |')
    return 0
  out = args.out or os.path.join('runs', 'reproduce', args.name)
  try:
    figure = check(args.name, args.budget, out)
    start = time.time()
    report = figure.reproduce(args.budget, out)
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  path = report.write(out, args.name)
  print(report.markdown())
  print(f'{args.name} ({args.budget}) in {time.time() - start:.0f} s: {path}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
