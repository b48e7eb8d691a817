"""Where PyTorch's CycleGAN training step spends its time, kernel by kernel: the other half of the
comparison that cgtrain's own profile (`cgtrain bench --profile`) gives for our side.

scripts/gpu-check.sh appends it to profile.txt in the GPU session, so one run says per kind of
work (convolutions, norms, pads, elementwise, optimizer, copies) how many kernels PyTorch
launches and how long the GPU runs them, and how busy the GPU is over a step: far below 100%
means PyTorch's step waits on its host side (Python and the launches), not on cuDNN.

Usage: python3 torch_profile.py --size 32 --batch 128 --blocks 6 [--ngf 64] [--device cuda]
       [--steps 3] [--top 25]

The networks and the step are build()'s in torch_cyclegan_step.py next to it (cgtrain's copy of
shared/reference/torch_cyclegan_step.py, whose networks and step it keeps line for line). On
--device cpu it reports the CPU time of each aten op instead (to check the script where no
GPU is).
"""
import argparse
import os
import re
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_cyclegan_step import add_model_args, build  # noqa: E402 (cgtrain's copy of the reference: the same networks and step)

CATEGORIES = [  # first match wins; kernel names (CUDA) or aten op names (CPU), lower case
    ("conv", r"conv|cudnn|implicit_gemm|xmma|cutlass|wgrad|dgrad|fprop|gemm|sm\d\d_"),
    ("norm", r"batch_norm|instance_norm|welford|layer_norm|native_norm"),
    ("pad", r"reflection_pad|pad"),
    ("optimizer", r"multi_tensor|adam|foreach|_fused"),
    ("reduce", r"reduce|sum|mean|norm"),
    ("copy", r"memcpy|memset|copy|cat|fill"),
    ("elementwise", r"elementwise|vectorized|unrolled|relu|tanh|leaky|mul|add|sub|div|abs|sign|pow"),
]


def category(name):
    low = name.lower()
    for cat, pattern in CATEGORIES:
        if re.search(pattern, low):
            return cat
    return "other"


def duration_us(e):
    return e.time_range.end - e.time_range.start


def kernel_times(prof):
    """(name, microseconds) of every kernel and device copy the profiler saw."""
    try:
        cuda = torch.autograd.DeviceType.CUDA
        times = [(e.name, duration_us(e)) for e in prof.events() if getattr(e, "device_type", None) == cuda]
        if times:
            return times
    except Exception as err:  # the profiler's event API moves between versions
        print(f"(kernel events not readable: {err}; using the averages)")
    times = []
    for e in prof.key_averages():
        total = getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0)
        if total and not e.key.startswith("aten::") and e.count:
            times += [(e.key, total / e.count)] * e.count
    return times


def totals(times, key):
    """[(key, [count, microseconds])] over (name, microseconds) pairs, the largest time first."""
    out = {}
    for n, t in times:
        c = out.setdefault(key(n), [0, 0.0])
        c[0] += 1
        c[1] += t
    return sorted(out.items(), key=lambda kv: -kv[1][1])


def main():
    p = argparse.ArgumentParser()
    add_model_args(p)
    p.add_argument("--device", default="cuda")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--top", type=int, default=25)
    a = p.parse_args()
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    step = build(a.size, a.batch, a.blocks, a.ngf, a.ndf, dev).step

    def sync():
        if cuda:
            torch.cuda.synchronize()

    for _ in range(a.warmup):
        step()
    sync()
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        sync()
        wall_ms = (time.perf_counter() - t0) * 1000 / a.steps

    # Kernels (and device copies) on CUDA; on the CPU, the aten ops' own time.
    if cuda:
        times = kernel_times(prof)
        what = "GPU kernels and copies"
    else:
        times = [(e.key, e.self_cpu_time_total / max(e.count, 1)) for e in prof.key_averages() for _ in range(e.count)
                 if e.key.startswith("aten::")]
        what = "aten ops' own CPU time"
    per_step = 1.0 / a.steps
    busy_ms = sum(t for _, t in times) / 1000 * per_step
    name = torch.cuda.get_device_name(0) if cuda else "CPU"
    print(f"== PyTorch {torch.__version__} profile on {name}: {a.size}x{a.size} resnet_{a.blocks}blocks batch {a.batch}, "
          f"{a.steps} steps after {a.warmup}")
    if not times:
        print(f"no {what} were recorded (the profiler needs CUPTI for GPU kernels)")
        return
    print(f"wall {wall_ms:.2f} ms/step (under the profiler); {what} {busy_ms:.2f} ms/step "
          f"({100 * busy_ms / wall_ms:.0f}% of the wall time), {len(times) * per_step:.0f} a step")
    print(f"{'kind':<12} {'a step':>8} {'ms/step':>9} {'share':>6}")
    for c, (count, t) in totals(times, category):
        print(f"{c:<12} {count * per_step:>8.0f} {t / 1000 * per_step:>9.3f} {100 * t / 1000 * per_step / busy_ms:>5.1f}%")
    print(f"top {a.top} by time: ms/step, calls/step, kind, name")
    for n, (count, t) in totals(times, lambda n: n)[: a.top]:
        print(f"  {t / 1000 * per_step:8.3f} {count * per_step:6.0f}  {category(n):<11} {n[:110]}")


if __name__ == "__main__":
    main()
