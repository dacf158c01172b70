"""pix2pix (Isola et al. 2017) on edges -> MNIST digits: a U-Net generator and a PatchGAN
discriminator on (edges, digit) pairs, the adversarial loss plus 100 x L1.

The offline proxy of the paper's edges -> shoes/handbags (Sec. 4, Fig. 14): each MNIST digit's
binarized Sobel edges are its source, so the true output of every test source is known. Setup
of the paper: Adam lr 2e-4, beta1 0.5, lambda = 100, BatchNorm, dropout on the first three
decoder layers, vanilla (non-saturating) GAN loss; batch 64 instead of 4, since digits are
small. The PatchGAN's receptive field is scaled to the image: 16x16 on 28x28 digits (one
stride-2 layer), as 70x70 is on the paper's 256x256. Scored on the 10,000 test digits: the
MNIST classifier's accuracy on the outputs (is the digit kept?), the Fréchet distance on its
features against the test digits, PSNR and SSIM against the true digits.

Variants: `runlocal` (seconds), `l1only` (the paper's L1-only ablation: no adversarial term),
`folder=/path` (your own pairs: /path/A and /path/B with matching names), `seed=N`.
"""

from experiments.common import parse_arg, shrink_for_runlocal
from gan_jax.train.families import base_config

VARIANTS = dict(runlocal=False, l1only=False, folder='', seed=0)


def paired_evals(c, extractor: str, num_samples: int, crop: int = 0) -> None:
  """Accuracy and Fréchet distance on the dataset's classifier, PSNR and SSIM, on the first
  `num_samples` test pairs; the best checkpoint by the Fréchet distance."""
  every = c.get_ref('eval_every')
  c.evals = {'accuracy': dict(metric='accuracy', every=every, num_samples=num_samples,
                              extractor=extractor),
             'fd': dict(metric='fd', every=every, num_samples=num_samples, extractor=extractor,
                        num_real=num_samples),
             'psnr': dict(metric='psnr', every=every, num_samples=num_samples, crop=crop),
             'ssim': dict(metric='ssim', every=every, num_samples=num_samples, crop=crop)}
  c.eval.best_metric = f'fd_{extractor}'


def pix2pix_config(seed: int, l1only: bool):
  """The paper's recipe: U-Net and PatchGAN (BatchNorm), vanilla GAN loss plus 100 x L1 (or L1
  alone), Adam 2e-4, beta1 0.5; no generator average. Batch 64."""
  c = base_config('paired')
  c.seed = seed
  c.batch_size = 64
  c.loss = 'non_saturating'
  c.content_loss, c.content_weight = 'l1', 100.0
  c.adversarial_weight = 0.0 if l1only else 1.0
  c.ema_decay = 0.0  # pix2pix keeps no average: the generator itself is evaluated.
  c.generator.update(name='unet', ch=64, norm='batch')
  c.discriminator.update(name='patchgan', ch=64, norm='batch')
  c.optim.update(g_lr=2e-4, d_lr=2e-4, g_b1=0.5, d_b1=0.5, g_b2=0.999, d_b2=0.999)
  c.log_every = 100
  return c


def get_config(arg: str | None = None):
  arg = parse_arg(arg, **VARIANTS)
  c = pix2pix_config(arg.seed, arg.l1only)
  c.dataset.name = 'mnist'
  c.dataset.source = 'edges'
  c.num_steps = 4000
  c.eval_every = c.checkpoint_every = 1000
  paired_evals(c, 'mnist_cnn', 10_000)
  if arg.folder:  # Users' pairs: no labels, so pixel metrics only.
    c.dataset.name, c.dataset.source = f'paired_folder:{arg.folder}', ''
    c.evals = {k: v for k, v in c.evals.items() if k in ('psnr', 'ssim')}
    for entry in c.evals.values():
      entry['num_samples'] = 16
    c.eval.best_metric = 'psnr'
  if arg.runlocal:
    shrink_for_runlocal(c)
  return c
