"""PyTorch side of test/train/cyclegan-torch.test.ts: the reference CycleGAN step
(junyanz/pytorch-CycleGAN-and-pix2pix models/networks.py + cycle_gan_model.py, resnet generator,
basic PatchGAN, lsgan, pool size 0, no dropout) run from our weights and inputs; with
"mode": "unet" in in.json, the reference unet generator's forward and input gradient instead.

Usage: python3 cyclegan-torch-reference.py <dir>
  reads  <dir>/in.json (config, tensor table) + <dir>/in.bin (float32 data)
  writes <dir>/out.json (losses per step, tensor table) + <dir>/out.bin (weights after the steps)
"""
import json, os, sys

import numpy as np
import torch
import torch.nn as nn

torch.set_num_threads(1)


class ResnetBlock(nn.Module):
    def __init__(self, dim, use_bias):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=use_bias), nn.InstanceNorm2d(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=use_bias), nn.InstanceNorm2d(dim))

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, ngf, n_blocks):
        super().__init__()
        use_bias = True  # InstanceNorm2d
        model = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=use_bias), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for i in range(2):
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=use_bias),
                      nn.InstanceNorm2d(ngf * mult * 2), nn.ReLU(True)]
        for _ in range(n_blocks):
            model += [ResnetBlock(ngf * 4, use_bias)]
        for i in range(2):
            mult = 2 ** (2 - i)
            model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=use_bias),
                      nn.InstanceNorm2d(ngf * mult // 2), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf, n_layers=3):
        super().__init__()
        use_bias = True
        seq = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=use_bias), nn.InstanceNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2 ** n_layers, 8)
        seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=use_bias), nn.InstanceNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
        seq += [nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


class UnetSkipConnectionBlock(nn.Module):
    """networks.py verbatim in structure, norm_layer = BatchNorm2d (use_bias False)."""

    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False, innermost=False, use_dropout=False):
        super().__init__()
        self.outermost = outermost
        use_bias = False
        if input_nc is None:
            input_nc = outer_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(0.2, True)
        downnorm = nn.BatchNorm2d(inner_nc)
        uprelu = nn.ReLU(True)
        upnorm = nn.BatchNorm2d(outer_nc)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            model = [downconv] + [submodule] + [uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv] + [uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, downnorm] + [submodule] + [uprelu, upconv, upnorm]
            if use_dropout:
                model = model + [nn.Dropout(0.5)]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, num_downs, ngf):
        super().__init__()
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True)

    def forward(self, x):
        return self.model(x)


def unet_forward(directory, spec, tensors):
    """Train-mode forward and input gradient of the reference unet (batch norm) on our weights."""
    c = spec['config']
    net = UnetGenerator(3, 3, c['numDowns'], c['ngf'])
    state = {k[len('net.'):]: v for k, v in tensors.items() if k.startswith('net.')}
    state.update({k: v for k, v in net.state_dict().items() if k.endswith('num_batches_tracked')})
    net.load_state_dict(state)
    x = tensors['input'].clone().requires_grad_(True)
    y = net(x)
    (y * tensors['weights']).sum().backward()
    out = np.concatenate([y.detach().numpy().ravel(), x.grad.numpy().ravel()]).astype('<f4')
    out.tofile(os.path.join(directory, 'out.bin'))
    with open(os.path.join(directory, 'out.json'), 'w') as f:
        json.dump({'tensors': [{'name': 'output', 'shape': list(y.shape), 'offset': 0},
                               {'name': 'input_grad', 'shape': list(x.shape), 'offset': y.numel()}]}, f)


def main(directory):
    with open(os.path.join(directory, 'in.json')) as f:
        spec = json.load(f)
    raw = np.fromfile(os.path.join(directory, 'in.bin'), dtype='<f4')
    tensors = {t['name']: torch.from_numpy(raw[t['offset']:t['offset'] + int(np.prod(t['shape']))].reshape(t['shape']).copy())
               for t in spec['tensors']}
    if spec.get('mode') == 'unet':
        return unet_forward(directory, spec, tensors)
    c = spec['config']
    nets = {'netG_A': ResnetGenerator(3, 3, c['ngf'], c['blocks']), 'netG_B': ResnetGenerator(3, 3, c['ngf'], c['blocks']),
            'netD_A': NLayerDiscriminator(3, c['ndf']), 'netD_B': NLayerDiscriminator(3, c['ndf'])}
    for prefix, net in nets.items():
        net.load_state_dict({k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + '.')})
    real_A, real_B = tensors['input.A'], tensors['input.B']
    G_A, G_B, D_A, D_B = nets['netG_A'], nets['netG_B'], nets['netD_A'], nets['netD_B']
    opt_G = torch.optim.Adam(list(G_A.parameters()) + list(G_B.parameters()), lr=c['lr'], betas=(c['beta1'], 0.999))
    opt_D = torch.optim.Adam(list(D_A.parameters()) + list(D_B.parameters()), lr=c['lr'], betas=(c['beta1'], 0.999))
    mse, l1 = nn.MSELoss(), nn.L1Loss()
    lam_A, lam_B, lam_idt = c['lambdaA'], c['lambdaB'], c['lambdaIdentity']

    def gan(pred, real):
        return mse(pred, torch.ones_like(pred) if real else torch.zeros_like(pred))

    losses = []
    for _ in range(c['steps']):
        fake_B = G_A(real_A); rec_A = G_B(fake_B)
        fake_A = G_B(real_B); rec_B = G_A(fake_A)
        for d in (D_A, D_B):
            for p in d.parameters():
                p.requires_grad_(False)
        opt_G.zero_grad()
        idt_A = G_A(real_B); loss_idt_A = l1(idt_A, real_B) * lam_B * lam_idt
        idt_B = G_B(real_A); loss_idt_B = l1(idt_B, real_A) * lam_A * lam_idt
        loss_G_A = gan(D_A(fake_B), True); loss_G_B = gan(D_B(fake_A), True)
        loss_cycle_A = l1(rec_A, real_A) * lam_A; loss_cycle_B = l1(rec_B, real_B) * lam_B
        (loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B).backward()
        if not losses:  # the first step's generator gradients, for a direct comparison
            first_grads = {f'grad.{prefix}.{k}': p.grad.detach().clone() for prefix in ('netG_A', 'netG_B')
                           for k, p in nets[prefix].named_parameters()}
        opt_G.step()
        for d in (D_A, D_B):
            for p in d.parameters():
                p.requires_grad_(True)
        opt_D.zero_grad()
        loss_D = {}
        for name, D, real, fake in (('D_A', D_A, real_B, fake_B), ('D_B', D_B, real_A, fake_A)):
            loss = (gan(D(real), True) + gan(D(fake.detach()), False)) * 0.5
            loss.backward()
            loss_D[name] = loss.item()
        opt_D.step()
        losses.append({'D_A': loss_D['D_A'], 'G_A': loss_G_A.item(), 'cycle_A': loss_cycle_A.item(), 'idt_A': loss_idt_A.item(),
                       'D_B': loss_D['D_B'], 'G_B': loss_G_B.item(), 'cycle_B': loss_cycle_B.item(), 'idt_B': loss_idt_B.item()})

    table, chunks, offset = [], [], 0
    named = [(f'{prefix}.{k}', v) for prefix, net in nets.items() for k, v in net.state_dict().items()]
    for name, v in named + list(first_grads.items()):
        data = v.detach().numpy().astype('<f4').ravel()
        table.append({'name': name, 'shape': list(v.shape), 'offset': offset})
        chunks.append(data)
        offset += data.size
    np.concatenate(chunks).tofile(os.path.join(directory, 'out.bin'))
    with open(os.path.join(directory, 'out.json'), 'w') as f:
        json.dump({'losses': losses, 'tensors': table, 'torch': torch.__version__}, f)


if __name__ == '__main__':
    main(sys.argv[1])
