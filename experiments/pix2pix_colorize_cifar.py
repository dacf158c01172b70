"""pix2pix (Isola et al. 2017) colorization of CIFAR-10: grey image -> colour image.

The offline proxy of the paper's colorization task (Sec. 4.3, Fig. 5/Table 4, on ImageNet): each
CIFAR-10 image's BT.601 luma is its source. The setup of pix2pix_edges2mnist.py (U-Net,
PatchGAN with a 16x16 receptive field, 100 x L1, Adam 2e-4, beta1 0.5, batch 64). Scored on the
10,000 test images: the CIFAR-10 classifier's accuracy on the outputs (against its accuracy on
the grey inputs: is colour recovered where it tells classes apart?), the Fréchet distance on its
features, PSNR/SSIM, and the colourfulness of the outputs, to set beside the real images' (the
paper's point: L1 alone gives greyish, desaturated results; the GAN brings colour back).

Variants: `runlocal`, `l1only` (the L1-only ablation), `seed=N`.
"""

from experiments.common import parse_arg, shrink_for_runlocal
from experiments.pix2pix_edges2mnist import paired_evals, pix2pix_config

VARIANTS = dict(runlocal=False, l1only=False, seed=0)


def get_config(arg: str | None = None):
  arg = parse_arg(arg, **VARIANTS)
  c = pix2pix_config(arg.seed, arg.l1only)
  c.dataset.name = 'cifar10'
  c.dataset.source = 'grey'
  c.num_steps = 10_000
  c.eval_every = c.checkpoint_every = 2000
  paired_evals(c, 'cifar10_cnn', 10_000)
  c.evals.colorfulness = dict(metric='colorfulness', every=c.get_ref('eval_every'),
                              num_samples=10_000)
  if arg.runlocal:
    shrink_for_runlocal(c)
  return c
