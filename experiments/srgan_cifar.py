"""SRResNet and SRGAN (Ledig et al. 2017) on CIFAR-10, x4 (8x8 -> 32x32) or x2 (16x16 -> 32x32).

The paper's networks (Fig. 4): an SRResNet of 16 residual blocks of 64 channels with sub-pixel
upsampling, and its 8-convolution discriminator. Low-resolution images are the targets shrunk
with an antialiased bicubic filter (`dataset.source = 'lowres'`). Adam lr 1e-4, beta1 0.9, as
the paper (for 10^6 updates); batch 64. For the configured 5,000 steps on a CPU,
`--config.optim.g_lr=1e-3 --config.optim.schedule=linear --config.optim.decay_from=0.4` trains
the SRResNet further (RESULTS.md: +1.45 dB PSNR over bicubic at 5,000 steps; 1e-4 gives +0.70 at 4,000).
- `srresnet`: the MSE-trained SRResNet (the paper's SRResNet-MSE), no adversarial term.
- SRGAN (default): content loss on a fixed network's feature maps plus 1e-3 x the adversarial
  loss. VGG weights cannot be had offline: the features are those of gan_jax's CIFAR-10
  classifier's last convolution block (`content_network` takes other classifier weights). As in
  the paper, SRGAN starts from a trained SRResNet: `init=/workdir/of/the/srresnet/run`.
Scored on the first 10,000 test images, border of `scale` pixels cropped (BasicSR's
convention): PSNR and SSIM (RGB and Y), PSNR of the output shrunk back against the input, the
CIFAR-10 classifier's accuracy and Fréchet distance. The perception-distortion trade-off
(Blau & Michaeli 2018): SRGAN gives up PSNR for a better classifier Fréchet distance.

Variants: `runlocal`, `srresnet`, `scale=2`, `init=PATH`, `folder=/path` (your own pairs: low-
resolution images in /path/A, high-resolution in /path/B), `seed=N`.
"""

from experiments.common import parse_arg, shrink_for_runlocal
from experiments.pix2pix_edges2mnist import paired_evals
from gan_jax.train.families import base_config

VARIANTS = dict(runlocal=False, srresnet=False, scale=4, init='', folder='', seed=0)


def get_config(arg: str | None = None):
  arg = parse_arg(arg, **VARIANTS)
  c = base_config('paired')
  c.seed = arg.seed
  c.dataset.name = 'cifar10'
  c.dataset.source = 'lowres'
  c.dataset.scale = arg.scale
  c.batch_size = 64
  c.loss = 'non_saturating'
  c.discriminator_sees_source = False
  if arg.srresnet:
    c.content_loss, c.content_weight, c.adversarial_weight = 'mse', 1.0, 0.0
  else:
    c.content_loss, c.content_weight, c.adversarial_weight = 'features', 1.0, 1e-3
    c.init_generator_from = arg.init
  c.ema_decay = 0.0
  c.generator.update(name='srresnet', ch=64, blocks=16)
  c.discriminator.update(name='srgan', ch=64)
  c.optim.update(g_lr=1e-4, d_lr=1e-4, g_b1=0.9, d_b1=0.9, g_b2=0.999, d_b2=0.999)
  c.num_steps = 5000
  c.log_every = 100
  c.eval_every = c.checkpoint_every = 1000
  paired_evals(c, 'cifar10_cnn', 10_000, crop=arg.scale)
  c.evals.lr_psnr = dict(metric='lr_psnr', every=c.get_ref('eval_every'), num_samples=10_000)
  c.eval.best_metric = 'psnr' if arg.srresnet else 'fd_cifar10_cnn'
  if arg.folder:
    c.dataset.name, c.dataset.source = f'paired_folder:{arg.folder}', ''
    c.evals = {k: v for k, v in c.evals.items() if k in ('psnr', 'ssim', 'lr_psnr')}
    c.eval.best_metric = 'psnr'
  if arg.runlocal:
    shrink_for_runlocal(c)
    c.generator.update(ch=8, blocks=2)
  return c
