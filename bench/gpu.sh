#!/usr/bin/env bash
# The GPU section of the benchmarks: cgtrain's CUDA backend against PyTorch (cuDNN) on the lent
# GPU machine. It does not time anything itself: scripts/gpu-check.sh (the one GPU-session script,
# docs/cuda.md) already runs `cgtrain bench --device cuda` and bench/torch's reference script on the
# same configurations (32x32 resnet_6blocks batch 128, 256x256 resnet_9blocks batch 1) and writes
# $OUT/bench.jsonl; this script runs it and prints the benchmark table from that file.
#
# Here, first:   scripts/gpu-prepare.sh
# One device call:
#   run(command: "source .gpu/on-gpu.sh; bash bench/gpu.sh",
#       carry: [".gpu", "dist", "build/Release/cgtrain_cpu.node", "cuda/build/Release/cgtrain_cuda.node"],
#       timeout_s: 600)
# Back here, with the files it returned (files_at):
#   node dist/bench/run.js --from-gpu FILES_AT/bench.jsonl --json bench/results/gpu-latest.json \
#        --md bench/results/gpu-latest.md --readme README.md
# (device.json beside bench.jsonl names the GPU in the table.)
set -uo pipefail
cd "$(dirname "$0")/.."
export OUT=${OUT:-$PWD/gpu-out}
bash scripts/gpu-check.sh
echo "== benchmark table (bench/run.ts --from-gpu)"
node dist/bench/run.js --from-gpu "$OUT/bench.jsonl" || echo "bench/gpu.sh: no table: see the bench steps in $OUT/gpu-check.log"
