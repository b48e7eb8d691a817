#!/usr/bin/env bash
# The ONE script a session with a lent GPU runs (see docs/cuda.md, "The GPU session"):
#   1. the conv index check (host), and the parity tests with the default (TF32) convolutions,
#      every op on CUDA vs the CPU
#   2. `cgtrain bench --device cuda` (its runBench, with a per-call profile and the table of what
#      convolution tuning kept per GEMM shape; tuning also checks every candidate engine's result
#      against the FP32 engine's on the real shapes) against PyTorch at 32x32 resnet_6blocks batch 128
#      and 256x256 resnet_9blocks batch 1
#   3. the Hopper wgmma engine (a tuning candidate by default on sm_90): the parity tests with it
#      forced, and the benches without it for comparison; PyTorch's step profiled kernel by kernel
#      (bench/torch/torch_profile.py); the cuda/dev kernel variants (validated, then timed); the
#      benches with --precision bf16
#   4. the tuning test, the short training-run comparison, checkpoints across devices (a run
#      stopped on CUDA resumes on the CPU and the reverse), the parity tests with exact-FP32 and
#      with BF16 convolutions, one training run with BF16, the addon test
# Prepare with scripts/gpu-prepare.sh here, then on the device:
#   source .gpu/on-gpu.sh; bash scripts/gpu-check.sh
# Everything goes to $OUT (at most 8 files come back): gpu-check.log (all output), summary.json,
# device.json, conv_dev.txt, parity.txt, bench.jsonl, profile.txt. Each step has its own time
# limit, cut to what is left before CHECK_HARD_S seconds (default 570, inside the device call's
# 600 s, so the summary is always written), and the script starts no step after
# CHECK_BUDGET_S seconds (default 480): one hang cannot eat the lease. The headline (parity,
# then ours against PyTorch at both sizes) runs first; the cuda/dev variants and the BF16
# benches come after it.
#
# A dry run on a machine without a GPU checks the script itself against the emulated addon
# (docs/cuda.md, "The CPU emulator"): GPU_CHECK_DRY_RUN=1 bash scripts/gpu-check.sh, after
# `node scripts/build-cuda-emu.js` and `node scripts/build-cuda-emu.js --program
# cuda/dev/conv_fwd.cu`. It uses those builds, a small conv_fwd and 32x32 batch-2 benches; the
# PyTorch steps fail there (no GPU).
set -uo pipefail
cd "$(dirname "$0")/.."
export OUT=${OUT:-$PWD/gpu-out}
export CGTRAIN_REQUIRE_CUDA=1  # the GPU tests fail instead of skipping when CUDA cannot run
mkdir -p "$OUT"
LOG=$OUT/gpu-check.log
BUDGET=${CHECK_BUDGET_S:-480}
HARD=${CHECK_HARD_S:-570}
ADDON=./cuda/build/Release/cgtrain_cuda.node
CONV_DEV=(.gpu/bin/conv_fwd 10)
CONV_DEV_LIMIT=120
BENCHES=("32 128 6" "256 1 9")  # size batch resnet-blocks [ngf=ndf]
if [ "${GPU_CHECK_DRY_RUN:-0}" = 1 ]; then
  ADDON=./build/cuda-emu/cgtrain_cuda_emu.node
  export CGTRAIN_CUDA_ADDON=$PWD/build/cuda-emu/cgtrain_cuda_emu.node
  CONV_DEV=(build/cuda-emu/conv_fwd 1 small)
  CONV_DEV_LIMIT=600
  BENCHES=("32 2 6 8")
  BUDGET=${CHECK_BUDGET_S:-3600}
  HARD=${CHECK_HARD_S:-4200}
fi
START=$(date +%s)
declare -A RESULT

exec > >(tee -a "$LOG") 2>&1

elapsed() { echo $(( $(date +%s) - START )); }
# run NAME LIMIT_S COMMAND...: runs a step unless the budget is spent, for at most LIMIT_S
# seconds and never past HARD; records pass/fail/timeout.
run() {
  local name=$1 limit=$2
  shift 2
  if [ "$(elapsed)" -ge "$BUDGET" ] || [ $(( HARD - $(elapsed) )) -lt 15 ]; then
    echo "== $name: SKIPPED (budget of ${BUDGET}s spent)"
    RESULT[$name]=skipped
    return
  fi
  [ "$limit" -le $(( HARD - $(elapsed) )) ] || limit=$(( HARD - $(elapsed) ))
  echo "== $name (limit ${limit}s, at $(elapsed)s)"
  local t0 rc
  t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@"
  rc=$?
  case $rc in
    0) RESULT[$name]=pass ;;
    124 | 137) RESULT[$name]=timeout ;;
    *) RESULT[$name]="fail (exit $rc)" ;;
  esac
  echo "== $name: ${RESULT[$name]} in $(( $(date +%s) - t0 ))s"
}

echo "== gpu-check on $(hostname) at $(date -u +%FT%TZ)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
# Clocks, power and temperature before and after the benches: a throttled or shared GPU explains
# odd figures (and MIG mode a smaller device than the name says).
# One query per group: a field this driver does not know fails its whole query.
gpu_state() {
  local q
  for q in clocks.sm,clocks.mem,power.draw,power.limit,temperature.gpu,utilization.gpu mig.mode.current \
    clocks_event_reasons.active clocks_throttle_reasons.active; do
    nvidia-smi --query-gpu="$q" --format=csv,noheader 2>/dev/null | sed "s/^/  gpu state ($1) $q: /" || true
  done
}
gpu_state start
node --version

if [ ! -d node_modules ]; then
  mkdir -p node_modules
  tar xJf .gpu/modules.tar.xz -C node_modules
fi
[ -d .gpu/bin ] || [ ! -f .gpu/bin.tar.xz ] || tar xJf .gpu/bin.tar.xz -C .gpu

run device-info 30 node -e '
  const b = require(process.argv[1]);
  const info = JSON.parse(b.deviceInfo());
  console.log(JSON.stringify(info));
  require("fs").writeFileSync(process.env.OUT + "/device.json", JSON.stringify(info, null, 1));
  if (!info.available) { console.error("CUDA not available: " + info.reason); process.exit(1); }
  b.init(0);
  console.log("peak FP32 (FMA chain): " + b.peakGflops(0.5).toFixed(0) + " GFLOP/s");' "$ADDON"

# The dev programs were built on the development machine; if this machine's libraries reject
# them, build them here (about a minute).
if [ "${GPU_CHECK_DRY_RUN:-0}" != 1 ] && ! .gpu/bin/conv_index_check >/dev/null 2>&1; then
  echo "the prebuilt cuda/dev programs do not run here; rebuilding them with nvcc"
  bash scripts/build-cuda-dev.sh .gpu/bin sm_90a
fi
[ "${GPU_CHECK_DRY_RUN:-0}" = 1 ] || run conv-index-check 60 .gpu/bin/conv_index_check

run parity-tf32 120 bash -c "node --test --test-reporter=spec dist/test/gpu/parity.test.js 2>&1 | tee $OUT/parity.txt; exit \${PIPESTATUS[0]}"

# Benchmarks: ours and PyTorch's on the same configurations, one JSON line each. Ours runs
# runBench, the code of `cgtrain bench --device cuda --json`, directly: the CLI entry loads every
# command and with them onnxruntime-node, which is too large to carry here.
: > "$OUT/bench.jsonl"
: > "$OUT/profile.txt"
# bench_cgtrain PRECISION PROFILE_STEPS SIZE BATCH BLOCKS [WIDTH]; $WGMMA=0 keeps the Hopper
# engine out of tuning (it is in by default on sm_90), $TUNE=0 runs the engines by rule.
bench_cgtrain() {
  local precision=$1 profile=$2 size=$3 batch=$4 blocks=$5 width=${6:-64}
  local name="bench-cgtrain-${size}" impl=cgtrain
  [ "$precision" = auto ] || { name="$name-$precision"; impl="cgtrain-$precision"; }
  [ "${WGMMA:-}" != 0 ] || { name="$name-nowgmma"; impl="$impl-nowgmma"; }
  [ "${TUNE:-1}" = 1 ] || { name="$name-untuned"; impl="$impl-untuned"; }
  run "$name" 150 env ${WGMMA:+CGTRAIN_CUDA_WGMMA=$WGMMA} CGTRAIN_CUDA_TUNE="${TUNE:-1}" node -e '
    const [precision, impl, addon] = process.argv.slice(1, 4);
    const [profileSteps, size, batch, blocks, width] = process.argv.slice(4).map(Number);
    const fs = require("fs");
    const { runBench, formatBench } = require("./dist/src/cli/commands/bench");
    const given = { device: "cuda", precision, batchSize: batch, netG: `resnet_${blocks}blocks`, ngf: width, ndf: width };
    runBench({ given, size, steps: 10, warmup: 2, profileSteps })
      .then((r) => {
        console.log(formatBench({ ...r, profile: undefined }));
        if (r.profile) fs.appendFileSync(process.env.OUT + "/profile.txt", formatBench(r) + "\n\n");
        else if (r.convTuning) {
          // Unprofiled runs (bf16, wgmma) still show what tuning kept per shape, and the runner-up.
          const { tunedGemms, formatTuningTable } = require("./dist/src/backend/tuning");
          const table = formatTuningTable(tunedGemms(require(addon)), 60);
          fs.appendFileSync(process.env.OUT + "/profile.txt", `== ${impl}, ${size}x${size} batch ${batch}\n${table}\n\n`);
        }
        const { profile, tunedGemms, ...summary } = r;
        const deviceTime = profile && profile.deviceTime ? { deviceTime: profile.deviceTime } : {};
        fs.appendFileSync(process.env.OUT + "/bench.jsonl", JSON.stringify({ impl, ...summary, ...deviceTime }) + "\n");
      })
      .catch((e) => { console.error(e.stack); process.exit(1); });' "$precision" "$impl" "$(realpath "$ADDON")" "$profile" "$size" "$batch" "$blocks" "$width"
}
bench() {
  local size=$1 batch=$2 blocks=$3 width=${4:-64}
  bench_cgtrain auto 3 "$@"
  # Should tuning itself fail here, the engines by rule still give a ratio.
  [ "${RESULT[bench-cgtrain-${size}]}" = pass ] || TUNE=0 bench_cgtrain auto 0 "$@"
  run "bench-torch-${size}" 120 bash -c "set -o pipefail; PYTHONUNBUFFERED=1 python3 .gpu/torch_cyclegan_step.py --device cuda --json --size $size \
    --batch $batch --blocks $blocks --ngf $width --ndf $width --steps 10 | tail -1 >> $OUT/bench.jsonl"
}
for b in "${BENCHES[@]}"; do
  # shellcheck disable=SC2086
  bench $b
done
gpu_state "after the headline benches"
# The Hopper engine: its parity with the CPU when forced, and the benches with it out of tuning
# (each bench's "conv tuning" line says how often tuning kept it).
run parity-wgmma 120 bash -c "CGTRAIN_CUDA_CONV=wgmma node --test --test-reporter=spec dist/test/gpu/parity.test.js 2>&1 | tee -a $OUT/parity.txt; exit \${PIPESTATUS[0]}"
for b in "${BENCHES[@]}"; do
  # shellcheck disable=SC2086
  WGMMA=0 bench_cgtrain auto 0 $b
done
# PyTorch's step kernel by kernel (bench/torch/torch_profile.py): per kind of work its kernels
# and GPU time, and how busy its GPU is; next to our own profile in profile.txt.
for b in "${BENCHES[@]}"; do
  # shellcheck disable=SC2086
  set -- $b
  run "profile-torch-$1" 60 bash -c "set -o pipefail; PYTHONUNBUFFERED=1 python3 bench/torch/torch_profile.py \
    --device cuda --size $1 --batch $2 --blocks $3 ${4:+--ngf $4 --ndf $4} | tee -a $OUT/profile.txt"
done
run conv-dev "$CONV_DEV_LIMIT" bash -c "set -o pipefail; ${CONV_DEV[*]} | tee $OUT/conv_dev.txt"
for b in "${BENCHES[@]}"; do
  # shellcheck disable=SC2086
  bench_cgtrain bf16 0 $b
done

run tuning 90 node --test --test-reporter=spec dist/test/gpu/tuning.test.js
run training 150 node --test --test-reporter=spec dist/test/gpu/training.test.js
run checkpoint 90 node --test --test-reporter=spec dist/test/gpu/checkpoint.test.js
run parity-fp32 150 bash -c "CGTRAIN_CUDA_TF32=0 node --test --test-reporter=spec dist/test/gpu/parity.test.js 2>&1 | tee -a $OUT/parity.txt; exit \${PIPESTATUS[0]}"
run parity-bf16 150 bash -c "CGTRAIN_CUDA_PRECISION=bf16 node --test --test-reporter=spec dist/test/gpu/parity.test.js 2>&1 | tee -a $OUT/parity.txt; exit \${PIPESTATUS[0]}"
run training-bf16 90 env CGTRAIN_CUDA_PRECISION=bf16 node --test --test-reporter=spec --test-name-pattern 'instance norm, LSGAN' dist/test/gpu/training.test.js
run addon 60 node --test --test-reporter=spec dist/test/gpu/cuda-addon.test.js

# Summary: step results and the images/s table.
results_json=$(for k in "${!RESULT[@]}"; do printf '"%s":"%s",' "$k" "${RESULT[$k]}"; done)
node -e '
  const fs = require("fs");
  const out = process.env.OUT;
  const steps = JSON.parse("{" + process.argv[1].replace(/,$/, "") + "}");
  const bench = fs.readFileSync(out + "/bench.jsonl", "utf8").split("\n").filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return { unparsed: l }; } });
  const rows = bench.map((b) => ({ impl: b.impl, size: b.size, batch: b.batch, imagesPerSec: b.imagesPerSec ?? b.images_per_s, msPerStep: b.msPerStep ?? b.ms_per_step, device: b.device ?? b.gpu, convTuning: b.convTuning, deviceTime: b.deviceTime }));
  let device = null;
  try { device = JSON.parse(fs.readFileSync(out + "/device.json", "utf8")); } catch {}
  // images/s of each cgtrain run over PyTorch'"'"'s at the same size and batch: the issue'"'"'s target is >= 1
  const ratios = rows.filter((r) => String(r.impl).startsWith("cgtrain")).flatMap((r) => {
    const torch = rows.find((t) => String(t.impl).startsWith("torch") && t.size === r.size && t.batch === r.batch && t.imagesPerSec > 0);
    return torch && r.imagesPerSec > 0 ? [{ impl: r.impl, torch: torch.impl, size: r.size, batch: r.batch, ratio: r.imagesPerSec / torch.imagesPerSec }] : [];
  });
  fs.writeFileSync(out + "/summary.json", JSON.stringify({ device, steps, bench: rows, ratios, seconds: Number(process.argv[2]) }, null, 1));
  console.log("\n== summary (" + (device?.devices?.[0]?.name ?? "no device") + ")");
  for (const [k, v] of Object.entries(steps).sort()) console.log(("  " + k).padEnd(28) + " " + v);
  for (const r of rows) {
    const t = r.convTuning;
    const tuning = t ? `; tuned ${t.changed}/${t.gemms} GEMMs away from the rule, ${t.chosenMs.toFixed(2)} vs ${t.heuristicMs.toFixed(2)} ms (${JSON.stringify(t.engines)}); ` +
      `${t.checked} candidate results checked, max diff ${Number(t.maxDiff).toExponential(1)}, ${t.rejected} rejected` : "";
    const busy = r.deviceTime ? `; GPU busy ${r.deviceTime.busyMs.toFixed(1)} ms of it (${(100 * r.deviceTime.busyMs / r.msPerStep).toFixed(0)}%)` : "";
    console.log(`  ${String(r.impl).padEnd(24)} ${r.size}px batch ${r.batch}: ${Number(r.imagesPerSec).toFixed(1)} images/s, ${Number(r.msPerStep).toFixed(1)} ms/step${busy}${tuning}`);
  }
  for (const q of ratios) console.log(`  ratio ${String(q.impl).padEnd(18)} / ${q.torch} at ${q.size}px batch ${q.batch}: ${q.ratio.toFixed(2)}`);
' "$results_json" "$(elapsed)"
echo "== done in $(elapsed)s"
