"""The layout, read from the imports: no import circle, and no module importing one above it."""

import ast
import os

import pytest

from conftest import ROOT

PACKAGE = os.path.join(ROOT, 'gan_jax')
# Modules that nothing in the lower layers may import, at module level or inside a function.
UPPER = ('gan_jax.train', 'gan_jax.evaluate', 'gan_jax.translate', 'gan_jax.sweep',
         'gan_jax.reproduce')
LOWER = ('gan_jax.config', 'gan_jax.errors', 'gan_jax.losses', 'gan_jax.fileutil',
         'gan_jax.metrics', 'gan_jax.models', 'gan_jax.data', 'gan_jax.figures',
         'gan_jax.parallel')


def _modules() -> dict[str, str]:
  """Dotted name -> path of every module of the package."""
  out = {}
  for root, _, files in os.walk(PACKAGE):
    for name in files:
      if name.endswith('.py'):
        path = os.path.join(root, name)
        parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
        out['.'.join(parts[:-1] if parts[-1] == '__init__' else parts)] = path
  return out


def _imports(path: str, module_level_only: bool) -> set[str]:
  """The gan_jax modules `path` imports (`from a import b` counts a.b when b is a module)."""
  tree = ast.parse(open(path).read())
  nodes = tree.body if module_level_only else ast.walk(tree)
  found = set()
  for node in nodes:
    if isinstance(node, ast.Import):
      found |= {a.name for a in node.names}
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      found |= {node.module} | {f'{node.module}.{a.name}' for a in node.names}
  modules = _modules()
  return {name for name in found if name in modules}


def test_lower_layers_import_nothing_above_them():
  offenders = []
  for name, path in _modules().items():
    if name.startswith(LOWER):
      offenders += [(name, imported) for imported in _imports(path, module_level_only=False)
                    if imported.startswith(UPPER)]
  assert offenders == []


def test_no_import_circle():
  """Module-level imports only: an import inside a function runs after its module has loaded."""
  graph = {name: _imports(path, module_level_only=True) - {name}
           for name, path in _modules().items()}
  for name in graph:  # A package's __init__ is imported with each of its modules.
    parent = name.rpartition('.')[0]
    if parent in graph:
      graph[name].add(parent)
  cycles, visiting, done = [], [], set()

  def visit(node):
    if node in done:
      return
    if node in visiting:
      cycles.append(visiting[visiting.index(node):] + [node])
      return
    visiting.append(node)
    for nxt in sorted(graph[node]):
      if not nxt.startswith(node + '.'):  # A package importing its own modules is no circle.
        visit(nxt)
    visiting.pop()
    done.add(node)

  for name in sorted(graph):
    visit(name)
  assert cycles == []


@pytest.mark.parametrize('module', ['gan_jax/train/loop.py', 'gan_jax/evaluate.py',
                                    'gan_jax/translate.py', 'gan_jax/train/step.py',
                                    'gan_jax/train/state.py', 'gan_jax/config.py'])
def test_the_core_does_not_branch_on_the_kind_of_data(module):
  """The families decide by the kind of data; the core calls them."""
  text = open(os.path.join(ROOT, module)).read()
  for word in ('is_translation(', 'is_paired(', 'is_unpaired(', 'ToyDataset', 'PairedDataset',
               'UnpairedDataset', 'family ==', "family in (", 'family not in', 'is_conditional('):
    assert word not in text, (module, word)


# What tells one kind of data from another: only data/ and the families may ask it.
DATA_KINDS = ('is_paired', 'is_unpaired', 'is_translation', 'TOY_DATASETS', 'ToyDataset',
              'ImageDataset', 'PairedDataset', 'UnpairedDataset', 'known_truth_directions',
              'STACKED_MNIST')


def test_only_the_families_and_data_branch_on_the_kind_of_data():
  asked = []
  for name, path in _modules().items():
    if name.startswith(('gan_jax.data', 'gan_jax.train.families')):
      continue
    for node in ast.walk(ast.parse(open(path).read())):
      used = (node.attr if isinstance(node, ast.Attribute) else
              node.id if isinstance(node, ast.Name) else
              ' '.join(a.name for a in node.names) if isinstance(node, ast.ImportFrom) else '')
      asked += [(name, kind) for kind in DATA_KINDS if kind in used.split()]
  assert asked == []
