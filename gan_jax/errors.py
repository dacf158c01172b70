"""Errors that mean "the user's input is wrong", each with a message naming the field or file and
what to do. A leaf module: everything may import it, it imports nothing of gan_jax.

The command-line entry points print `error: <message>` for any `UserError`, with no traceback.
"""


class UserError(Exception):
  """Bad input: the message alone tells the user what is wrong and how to fix it."""


class ConfigError(UserError, ValueError):
  """A config field is unknown, of the wrong type or impossible; the message names the field."""


class EvalConfigError(ConfigError):
  """An `evals` entry is unknown, mistyped or impossible; the message names the field."""


class DataError(UserError, ValueError):
  """A dataset is unknown, missing, empty or unreadable; the message says which and what to do."""


class PrepareError(UserError, RuntimeError):
  """Original dataset files are missing or fail their checksum."""


class WorkdirError(UserError, ValueError):
  """The workdir cannot be used: a file where a folder should be, or a damaged config.json."""


class SweepError(UserError, ValueError):
  """A sweep cannot run: a key that is no config field, a metric no evaluator logs, Ray missing."""


class CheckpointError(UserError, RuntimeError):
  """A checkpoint exists but cannot be restored into this run's state.

  `intact_step` is the newest older checkpoint that does restore, or None.
  """

  def __init__(self, message: str, intact_step: int | None = None):
    super().__init__(message)
    self.intact_step = intact_step


class NonFiniteLossError(UserError, FloatingPointError):
  """A loss became NaN or infinite; the run stops, keeping its last good checkpoint."""


class InceptionWeightsError(UserError, FileNotFoundError):
  """The FID Inception weights are missing or unreadable; the message says where to put them."""


class MetricInputError(UserError, ValueError):
  """Images or features given to a metric have the wrong shape, range or count."""


class EvaluateError(UserError, ValueError):
  """The workdir, step or arguments of `gan_jax.evaluate` cannot be evaluated."""
