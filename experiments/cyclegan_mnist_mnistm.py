"""CycleGAN (Zhu et al. 2017) between MNIST digits (A) and MNIST-M-like digits (B), unpaired.

The offline proxy of the paper's unpaired domains (horse <-> zebra, photo <-> Monet): domain B
is MNIST digits blended with CIFAR-10 crops as |crop - digit| (the MNIST-M recipe of Ganin &
Lempitsky 2015), and the two training domains come from disjoint halves of MNIST's training
digits, so no pair is ever seen. Held-out image i of B is made from test digit i, so the true
B -> A translation of every test image is known.

Setup of the paper and its reference code: ResNet-block generators, 70x70-style PatchGANs
scaled to the image (16x16 on 28x28, one stride-2 layer), instance norm, least-squares loss
(the generator's term the reference's MSE(D(G(a)), 1), i.e. 2 x gan_jax's 1/2 E[(D - 1)^2]),
cycle loss lambda = 10, identity loss 0.5 lambda, pools of 50 earlier fakes, Adam 2e-4 and
beta1 0.5 constant for the first half of training and then decaying linearly to 0. For 28x28
digits: 6 residual blocks (the paper's choice below 256x256) of 32 base channels, batch 16
instead of 1. The generators halve the image twice, as the paper's; on 28x28 digits that leaves a
7x7 grid, and `--config.generator.downsamplings=1` (a 14x14 grid, the same cost per block) keeps
the digit more often: RESULTS.md has both.

Scored on the first 2,000 test images: A -> B by the MNIST-M-like classifier's accuracy (is
the digit kept?) and Fréchet distance; B -> A by PSNR and SSIM against the true digits and by
the MNIST classifier's accuracy. The checkpoint kept in workdir/best is chosen on validation
digits, never on test images: the A -> B accuracy (`accuracy_mnistm_cnn_ab_val`) on 2,000
training digits that domain A leaves out (MNIST train 30,000-31,999; A trains on 0-29,999).
`python -m gan_jax.evaluate --best` and `python -m gan_jax.translate --best` read it. With
`:semantic --config.generator.downsamplings=1 --config.ema_decay=0.999` (a generator average) it
keeps the digit in 91.1 % (seed 0) and 90.3 % (seed 1) of the test translations (RESULTS.md).

Variants: `runlocal` (seconds), `folder=/path` (your own domains: /path/trainA, trainB, testA,
testB), `seed=N`, and `semantic`: CycleGAN plus the semantic consistency loss of CyCADA (Hoffman
et al. 2018, Eq. 4, weight 1), its A -> B term. gan_jax's MNIST classifier (`mnist_cnn`, fixed)
must give each translation the class it gives the source digit: CyCADA's ablation shows cycle
consistency alone flipping digits' labels (SVHN -> MNIST). The MNIST-M-like classifier that
scores A -> B is not used in training.
"""

from experiments.common import parse_arg, shrink_for_runlocal
from gan_jax.train.families import base_config

VARIANTS = dict(runlocal=False, folder='', seed=0, semantic=False)
# The A half of this slice: MNIST training digits 30,000-31,999, which domain A (the first half
# of `train`) never holds. Their MNIST-M-like blends are in domain B's training half.
VALIDATION_SPLIT = 'train[30000:34000]'


def cyclegan_config(seed: int):
  """The paper's recipe: ResNet-block generators and PatchGANs with instance norm, LSGAN,
  cycle 10, identity 0.5 x 10, pools of 50, Adam 2e-4 / beta1 0.5, linear decay over the second
  half; no generator average."""
  c = base_config('cycle')
  c.seed = seed
  c.batch_size = 16
  c.loss = 'least_squares'
  c.adversarial_weight = 2.0  # The reference's MSE(D(G(a)), 1) is twice gan_jax's LSGAN g_loss.
  c.cycle_weight, c.identity_weight, c.pool_size = 10.0, 0.5, 50
  c.ema_decay = 0.0  # CycleGAN keeps no average: the generators themselves are evaluated.
  c.generator.update(name='cyclegan', ch=32, blocks=6, norm='instance', downsamplings=2)
  c.discriminator.update(name='patchgan', ch=64, norm='instance')
  c.optim.update(g_lr=2e-4, d_lr=2e-4, g_b1=0.5, d_b1=0.5, g_b2=0.999, d_b2=0.999,
                 schedule='linear', decay_from=0.5)
  c.log_every = 100
  return c


def get_config(arg: str | None = None):
  arg = parse_arg(arg, **VARIANTS)
  c = cyclegan_config(arg.seed)
  c.dataset.name = 'mnist_mnistm'
  c.num_steps = 4000
  c.eval_every = c.checkpoint_every = 1000
  every, n = c.get_ref('eval_every'), 2000
  # runlocal trains on train[:256] (A: its first 128 digits); this slice's A half is 64 others.
  validation = 'train[256:384]' if arg.runlocal else VALIDATION_SPLIT
  c.evals = {
      'accuracy_ab': dict(metric='accuracy', direction='ab', every=every, num_samples=n,
                          extractor='mnistm_cnn'),
      'fd_ab': dict(metric='fd', direction='ab', every=every, num_samples=n,
                    extractor='mnistm_cnn', num_real=n),
      'accuracy_ba': dict(metric='accuracy', direction='ba', every=every, num_samples=n,
                          extractor='mnist_cnn'),
      'psnr_ba': dict(metric='psnr', direction='ba', every=every, num_samples=n),
      'ssim_ba': dict(metric='ssim', direction='ba', every=every, num_samples=n),
      'accuracy_ab_val': dict(metric='accuracy', direction='ab', every=every, num_samples=n,
                              extractor='mnistm_cnn', real_split=validation, tag='val')}
  c.eval.best_metric = 'accuracy_mnistm_cnn_ab_val'
  if arg.semantic:
    c.semantic_weight = 1.0
  if arg.folder:  # Users' domains: no labels and no known truth; the generators' own figures.
    c.dataset.name = f'unpaired_folder:{arg.folder}'
    c.evals, c.eval.best_metric = {}, ''
  if arg.runlocal:
    shrink_for_runlocal(c)
    c.dataset.test_split = 'test[:64]'
    c.generator.blocks = 2
  return c
