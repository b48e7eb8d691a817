"""Reference timing of one CycleGAN training step in PyTorch, for side-by-side benchmarks.

The architecture and losses are the reference PyTorch CycleGAN's defaults:
  generator resnet_Nblocks (reflection pad, c7s1-ngf, 2 stride-2 convs, N residual blocks,
  2 transposed convs with output_padding 1, c7s1-3, tanh), InstanceNorm2d(affine=False);
  discriminator 70x70 PatchGAN (n_layers 3, ndf 64, LeakyReLU 0.2);
  LSGAN (MSE) adversarial loss, cycle L1 x10, identity L1 x5 (0.5 x 10); Adam 2e-4, betas (0.5, 0.999).
One step = generators' forward/backward/update with the discriminators frozen, then both
discriminators' forward/backward/update on the fakes of that step.

Usage: python3 torch_cyclegan_step.py --size 32 --batch 16 --blocks 6 [--ngf 64] [--device cpu|cuda]
       [--threads 2] [--steps 5] [--warmup N] [--min-seconds S] [--infer] [--json]
On CUDA, PyTorch's defaults stand (cuDNN, TF32 convolutions allowed); --no-tf32 turns TF32 off.
--infer times generator inference (G_A forward under no_grad, --steps batches) instead of the step.

cgtrain's copy of shared/reference/torch_cyclegan_step.py (bench/torch/run.ts runs it). Beside the
reference's fields, the JSON reports the per-network parameter counts and output shapes, so the
benchmark can check that the three implementations build the same networks, and every step time.
"""
import argparse, json, statistics, time
from types import SimpleNamespace
import torch, torch.nn as nn


def norm(c):
    return nn.InstanceNorm2d(c, affine=False)


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), norm(c), nn.ReLU(True),
                                   nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), norm(c))

    def forward(self, x):
        return x + self.block(x)


def generator(blocks, ngf):
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), norm(ngf), nn.ReLU(True)]
    for i in range(2):
        m = 2 ** i
        layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, 2, 1), norm(ngf * m * 2), nn.ReLU(True)]
    layers += [ResBlock(ngf * 4) for _ in range(blocks)]
    for i in range(2):
        m = 2 ** (2 - i)
        layers += [nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, 2, 1, output_padding=1),
                   norm(ngf * m // 2), nn.ReLU(True)]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    return nn.Sequential(*layers)


def discriminator(ndf=64, n_layers=3):
    layers = [nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers):
        prev, mult = mult, min(2 ** n, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1), norm(ndf * mult), nn.LeakyReLU(0.2, True)]
    prev, mult = mult, min(2 ** n_layers, 8)
    layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1), norm(ndf * mult), nn.LeakyReLU(0.2, True),
               nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
    return nn.Sequential(*layers)


def conv_macs(net, size, device):
    total = [0]

    def hook(m, i, o):
        if isinstance(m, nn.Conv2d):
            total[0] += o.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.ConvTranspose2d):
            total[0] += i[0].numel() * m.out_channels * m.kernel_size[0] * m.kernel_size[1]

    hooks = [m.register_forward_hook(hook) for m in net.modules()]
    with torch.no_grad():
        net(torch.zeros(1, 3, size, size, device=device))
    for h in hooks:
        h.remove()
    return total[0]


def build(size, batch, blocks, ngf, ndf, dev):
    """The run's networks, optimizers and random batches (seed 0), and its training step
    (bench/torch/torch_profile.py profiles the same step)."""
    torch.manual_seed(0)
    GA, GB = generator(blocks, ngf).to(dev), generator(blocks, ngf).to(dev)
    DA, DB = discriminator(ndf).to(dev), discriminator(ndf).to(dev)
    d_params = list(DA.parameters()) + list(DB.parameters())
    optG = torch.optim.Adam(list(GA.parameters()) + list(GB.parameters()), 2e-4, betas=(0.5, 0.999))
    optD = torch.optim.Adam(d_params, 2e-4, betas=(0.5, 0.999))
    mse, l1 = nn.MSELoss(), nn.L1Loss()
    A = torch.rand(batch, 3, size, size, device=dev) * 2 - 1
    B = torch.rand(batch, 3, size, size, device=dev) * 2 - 1

    def step():
        fake_B, fake_A = GA(A), GB(B)
        rec_A, rec_B = GB(fake_B), GA(fake_A)
        idt_A, idt_B = GA(B), GB(A)
        for q in d_params:
            q.requires_grad_(False)
        pa, pb = DA(fake_B), DB(fake_A)
        loss_G = (mse(pa, torch.ones_like(pa)) + mse(pb, torch.ones_like(pb))
                  + 10 * (l1(rec_A, A) + l1(rec_B, B)) + 5 * (l1(idt_A, B) + l1(idt_B, A)))
        optG.zero_grad(set_to_none=True)
        loss_G.backward()
        optG.step()
        for q in d_params:
            q.requires_grad_(True)
        optD.zero_grad(set_to_none=True)
        for D, real, fake in ((DA, B, fake_B), (DB, A, fake_A)):
            pr, pf = D(real), D(fake.detach())
            (0.5 * (mse(pr, torch.ones_like(pr)) + mse(pf, torch.zeros_like(pf)))).backward()
        optD.step()

    return SimpleNamespace(GA=GA, GB=GB, DA=DA, DB=DB, A=A, B=B, step=step)


def add_model_args(p):
    """The options build() takes (torch_profile.py parses them too)."""
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--blocks", type=int, default=6)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)


def main():
    p = argparse.ArgumentParser()
    add_model_args(p)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=-1, help="untimed steps first (default 1 on CPU, 2 on CUDA)")
    p.add_argument("--min-seconds", type=float, default=0.0,
                   help="keep timing past --steps until the timed steps last this long (the warm-up a quarter of it)")
    p.add_argument("--infer", action="store_true")
    p.add_argument("--no-tf32", action="store_true")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.no_tf32:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(a.device)
    net = build(a.size, a.batch, a.blocks, a.ngf, a.ndf, dev)
    GA, DA, A, step = net.GA, net.DA, net.A, net.step

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def infer():
        # Generator inference as a user would run it: no autograd, the whole batch in one call.
        with torch.no_grad():
            GA(A)

    run = infer if a.infer else step
    warmup = a.warmup if a.warmup >= 0 else (2 if dev.type == "cuda" else 1)
    # As cgtrain's src/util/timing.ts: each phase runs its count and lasts its minimum time.
    start, done = time.perf_counter(), 0
    while done < warmup or time.perf_counter() - start < a.min_seconds / 4:
        run()
        sync()
        done += 1
    times = []
    while len(times) < a.steps or sum(times) < a.min_seconds:
        t = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    g, d = conv_macs(GA, a.size, dev), conv_macs(DA, a.size, dev)
    flops_per_image = 3 * 2 * (6 * g + 6 * d)  # 6 G and 6 D forwards; backward ~ 2x forward
    if a.infer:
        flops_per_image = 2 * g  # one generator forward
    with torch.no_grad():
        probe = torch.zeros(1, 3, a.size, a.size, device=dev)
        shapes = {"generator": list(GA(probe).shape), "discriminator": list(DA(probe).shape)}
    res = {"impl": f"torch {torch.__version__}", "mode": "infer" if a.infer else "step", "device": a.device,
           "size": a.size, "batch": a.batch, "blocks": a.blocks, "ngf": a.ngf, "ndf": a.ndf,
           "threads": torch.get_num_threads(), "warmup": warmup, "steps": len(times), "min_seconds": a.min_seconds,
           "ms_per_step": med * 1000, "ms_per_step_all": [t * 1000 for t in times], "images_per_s": a.batch / med,
           "gflops": flops_per_image * a.batch / med / 1e9, "gflop_per_image": flops_per_image / 1e9,
           "parameters": {"generator": sum(q.numel() for q in GA.parameters()),
                          "discriminator": sum(q.numel() for q in DA.parameters())},
           "output_shapes": shapes}
    if dev.type == "cuda":
        res["gpu"] = torch.cuda.get_device_name(0)
        res["peak_mem_gb"] = torch.cuda.max_memory_allocated() / 2 ** 30
    print(json.dumps(res) if a.json else
          f"{res['impl']} {a.device} size={a.size} batch={a.batch} blocks={a.blocks} ngf={a.ngf}: "
          f"{res['ms_per_step']:.1f} ms/step, {res['images_per_s']:.2f} img/s, {res['gflops']:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
