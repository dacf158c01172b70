"""The perception-distortion trade-off of super-resolution (Ledig et al. 2017, Table 2; Blau &
Michaeli 2018): an SRResNet trained on pixel MSE gains PSNR over bicubic upsampling; SRGAN,
started from it with a feature content loss and 1e-3 x the adversarial loss, gives PSNR back for
outputs closer to real images.

experiments/srgan_cifar.py, x4 (8x8 -> 32x32 CIFAR-10): the `srresnet` variant, then SRGAN
initialized from its last checkpoint (`init=`), each scored at its last step by the experiment's
evaluators on the first N test images: PSNR and SSIM (border 4, RGB and Y), the output shrunk back
against the input, and the CIFAR-10 classifier's Fréchet distance and accuracy. Bicubic and
nearest upsampling and the real targets are scored by the same evaluator code on the same pairs.
"""

from __future__ import annotations

import os

from gan_jax.reproduce import Report, experiment, final_evaluation, runs_dir, scored_at_the_end

PAPER = ('Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a GAN"; Blau & '
         'Michaeli 2018, "The Perception-Distortion Tradeoff"')
FIGURE = 'Table 2: SRResNet against SRGAN, distortion against perception'
# budget -> (SRResNet steps, SRGAN steps from it, held-out test images scored)
PROTOCOLS = {'short': (300, 100, 1_000), 'medium': (3_000, 1_000, 10_000),
             'full': (1_000_000, 200_000, 10_000)}
BUDGETS = tuple(PROTOCOLS)
# Set5 x4, PSNR (dB) / SSIM, the paper's Table 2 (real photographs, not CIFAR-10).
PUBLISHED = {'bicubic upsampling': '28.43 / 0.8211', 'SRResNet': '32.05 / 0.9019',
             'SRGAN': '29.40 / 0.8472'}
KEYS = ('eval/psnr', 'eval/ssim', 'eval/psnr_y', 'eval/lr_psnr', 'eval/fd_cifar10_cnn',
        'eval/accuracy_cifar10_cnn')


def run_config(variant: str, steps: int, samples: int):
  """srgan_cifar's `variant` for `steps` steps, scored at the last one on `samples` test images."""
  config = scored_at_the_end(experiment('srgan_cifar').get_config(variant), steps)
  for entry in config.evals.values():
    entry['num_samples'] = samples
  return config


def last_scores(config, workdir: str) -> dict:
  """The run's evaluator values at its last step (trained first unless finished)."""
  final, _, wall = final_evaluation(config, workdir, 'eval/psnr')
  return {**{k: final[k] for k in KEYS}, 'wall': wall}


def _figure(rows: dict):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(5, 3.4))
  for name, values in rows.items():
    if name != 'real targets':
      ax.plot(values['eval/psnr'], values['eval/fd_cifar10_cnn'], 'o')
      ax.annotate(name, (values['eval/psnr'], values['eval/fd_cifar10_cnn']), fontsize=8,
                  xytext=(4, 4), textcoords='offset points')
  ax.set(xlabel='PSNR (dB), higher: less distortion',
         ylabel='Fréchet distance (cifar10_cnn), lower: closer to real',
         title='x4 super-resolution, CIFAR-10 test images')
  fig.tight_layout()
  return fig


def reproduce(budget: str, out: str) -> Report:
  from gan_jax.metrics.baselines import score_baselines
  srresnet_steps, srgan_steps, samples = PROTOCOLS[budget]
  runs = runs_dir(out)
  srresnet_dir = os.path.join(runs, f'srresnet_cifar_x4_{srresnet_steps}steps')
  srgan_dir = os.path.join(runs, f'srgan_cifar_x4_{srresnet_steps}+{srgan_steps}steps')
  srresnet_config = run_config('srresnet', srresnet_steps, samples)
  rows = {'SRResNet': last_scores(srresnet_config, srresnet_dir),
          'SRGAN': last_scores(run_config(f'init={srresnet_dir}', srgan_steps, samples), srgan_dir)}
  for name, values in score_baselines(srresnet_config).items():
    rows[name] = {k: values[k] for k in KEYS}
  order = ['bicubic upsampling', 'nearest upsampling', 'SRResNet', 'SRGAN', 'real targets']
  steps = {'SRResNet': f'{srresnet_steps:,}', 'SRGAN': f'{srresnet_steps:,} + {srgan_steps:,}'}
  table = [[name, steps.get(name, ''), *(f'{rows[name][k]:.4g}' for k in KEYS),
            PUBLISHED.get(name, ''), rows[name].get('wall', '')]
           for name in order]
  psnr = lambda name: rows[name]['eval/psnr']
  fd = lambda name: rows[name]['eval/fd_cifar10_cnn']
  checks = {
      'SRResNet (MSE) has a higher PSNR than bicubic upsampling': psnr('SRResNet') > psnr(
          'bicubic upsampling'),
      'SRGAN has a lower PSNR than SRResNet (more distortion)': psnr('SRGAN') < psnr('SRResNet'),
      'SRGAN is closer to real images than SRResNet (lower Fréchet distance)':
          fd('SRGAN') < fd('SRResNet')}
  protocol = (f'experiments/srgan_cifar.py:srresnet, {srresnet_steps:,} steps (batch 64, Adam 1e-4 '
              f'/ 0.9, constant), then experiments/srgan_cifar.py:init=<that run>, {srgan_steps:,} '
              f'steps; seed 0, one run each. Scored on the first {samples:,} CIFAR-10 test images '
              '(sources: shrunk 4x with an antialiased bicubic filter, 8 bits): PSNR and SSIM with '
              'a border of 4 pixels cropped, on RGB and on Y of BT.601; lr_psnr: the output shrunk '
              'back against the input; the CIFAR-10 classifier\'s (cifar10_cnn) Fréchet distance '
              'to the same real test images and its accuracy on the outputs. Caveat: SRGAN\'s '
              'content loss matches the features of this same classifier (VGG weights are not '
              'available offline), which favours it on the last two columns. The published values '
              'are Set5 x4 (PSNR / SSIM) from the paper\'s Table 2, on photographs; the full budget '
              'runs the paper\'s update counts (10^6 SRResNet, 2 x 10^5 SRGAN) with the learning '
              'rate kept at 1e-4 (the paper lowers SRGAN\'s to 1e-5 halfway).')
  return Report(
      title=f'{PAPER}, {FIGURE}', rows=table, protocol=protocol,
      columns=['x4 upsampling', 'steps', *(k.removeprefix('eval/') for k in KEYS),
               'published Set5 PSNR / SSIM', 'wall (s)'],
      commands=[f'python -m gan_jax.reproduce super_resolution --budget {budget} --out {out}',
                f'python launch.py --config experiments/srgan_cifar.py:srresnet --workdir '
                f'{srresnet_dir} --config.num_steps={srresnet_steps}',
                f'python launch.py --config experiments/srgan_cifar.py:init={srresnet_dir} '
                f'--workdir {srgan_dir} --config.num_steps={srgan_steps}'],
      figures={'super_resolution': _figure(rows)},
      checks=checks)
