#!/usr/bin/env bash
# Builds the cuda/dev programs the GPU session runs (docs/cuda.md, "The GPU session"), with one
# file list for every caller: scripts/gpu-prepare.sh (here, for the lent GPU), gpu-check.sh (its
# rebuild there when the prebuilt ones do not run) and test/gpu/host-checks.test.ts (CI: they
# still compile and link).
#
#   scripts/build-cuda-dev.sh OUT_DIR [ARCH]      ARCH default sm_90a (the wgmma variant needs it)
#
#   OUT_DIR/conv_index_check   host-only check of the conv index math (run after building)
#   OUT_DIR/conv_fwd           the conv variants, validated against the CPU reference and timed
#
# conv_fwd links every cuda/*.cu, as the emulator's --program build does: a hand-picked list
# broke when conv.cu began calling layout.cu's reflection pad. $CGTRAIN_DEV_OPT sets the
# optimisation level of conv_fwd (default -O3; the test uses -O0 to build faster), $CUDACXX the
# nvcc (default: nvcc on PATH).
set -euo pipefail
out=${1:?usage: build-cuda-dev.sh OUT_DIR [ARCH]}
arch=${2:-sm_90a}
nvcc=${CUDACXX:-nvcc}
cd "$(dirname "$0")/.."
mkdir -p "$out"
"$nvcc" -std=c++17 -O2 -Inative/include -Icuda cuda/dev/conv_index_check.cu -o "$out/conv_index_check"
"$out/conv_index_check" | tail -1
"$nvcc" -std=c++17 "${CGTRAIN_DEV_OPT:--O3}" -arch="$arch" --expt-relaxed-constexpr -Inative/include -Icuda \
  cuda/dev/conv_fwd.cu cuda/*.cu -o "$out/conv_fwd"
