"""Training: the state pytree, the compiled step, and the loop."""

from gan_jax.train.loop import train_and_evaluate
from gan_jax.train.state import GANState, create_state
from gan_jax.train.step import make_train_step
