#!/usr/bin/env bash
# Branch sm90-cleanup-poly (session 38, never run: no device came): A/B of poly_exp2 in the Hopper softmax.
# usage: bench/gpu/poly-exp2-ab.sh prepare   (here: builds .kvariants from this branch and main; then
#          dotnet build AttentionGen.sln -c Release && NO_SAMPLE=1 bench/gpu/pack-for-device.sh, carry .devtests and .kvariants)
#        bench/gpu/poly-exp2-ab.sh run       (the device: DEADLINE=seconds caps the whole run, default 585)
# Variants: head = main's Hopper sources; main = this branch's embedded sources (poly off); p2, p3, p4 = every 2nd, 3rd,
# 4th score fragment through poly_exp2 at every shape; pN-64 = at head dim 64's shape only (what would ship).
set -u
cd "$(dirname "$0")/../.."
K=runtime/Cuda/Kernels
if [ "${1:-}" = prepare ]; then
    rm -rf .kvariants && mkdir -p .kvariants/head
    for f in flash_common.inc sm90_consumer.inc flash_fwd_sm90.cu sm90_shared_layout.inc sm90_contract.inc; do git show main:$K/$f >.kvariants/head/$f; done
    for v in 2 3 4; do
        for d in p$v p$v-64; do mkdir -p .kvariants/$d && cp $K/flash_common.inc $K/sm90_consumer.inc $K/flash_fwd_sm90.cu .kvariants/$d/; done
        sed -i "s/kPolyExp2Every = 0/kPolyExp2Every = $v/" .kvariants/p$v/flash_fwd_sm90.cu
        sed -i "/struct Sm90Shape<64>/,/};/s/kPolyExp2Every = 0/kPolyExp2Every = $v/" .kvariants/p$v-64/flash_fwd_sm90.cu
    done
    exit 0
fi
out=${OUT:-device-out}; mkdir -p "$out"
xz -dc .devtests/publish.tar.xz | tar -xf -
bin=publish/gpu/attentiongen-gpu
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
variants="main head p2 p3 p4"
run_variant() {  # variant, args...
    local v=$1; shift
    if [ "$v" = main ]; then ATTENTIONGEN_CACHE_DIR=/tmp/agc-main "$bin" "$@"
    else ATTENTIONGEN_KERNEL_DIR=.kvariants/$v ATTENTIONGEN_CACHE_DIR=/tmp/agc-$v "$bin" "$@"; fi
}
start=$(date +%s)
for v in $variants; do ( run_variant $v time 1,1,300,64 1,1,300,128 >"$out/warm-$v.log" 2>&1 ) & done; wait
echo "warm: $(( $(date +%s) - start )) s"; tail -n 2 "$out"/warm-*.log
for r in $(seq 1 "${ROUNDS:-2}"); do
  for v in $variants; do
    run_variant $v time 4,16,4096,64 1,16,16384,64 4,16,4096,128 2>&1 | grep '^{' | sed "s/^/$v /" >>"$out/ab.log"
  done
  echo "round $r: $(( $(date +%s) - start )) s"
done
python3 - "$out/ab.log" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    side, _, payload = line.partition(" ")
    d = json.loads(payload)
    rows.setdefault((*d["shape"], d["causal"]), {}).setdefault(side, []).append(d["ms"])
sides = ["main", "head", "p2", "p3", "p4"]
print(f"{'shape':<22}{'causal':<7}" + "".join(f"{s:>22}" for s in sides) + "   head/pN (median)")
for key, by in rows.items():
    cells = "".join(f"{' '.join(f'{x:.3f}' for x in by.get(s, [])):>22}" for s in sides)
    h = statistics.median(by["head"])
    print(f"{str(tuple(key[:4])):<22}{str(key[4]):<7}{cells}   " + " ".join(f"{s}:{h / statistics.median(by[s]):.3f}" for s in sides if s in by))
PY
left() { local l=$(( ${DEADLINE:-585} - ($(date +%s) - start) )); echo $(( l > 1 ? l : 1 )); }
best=$(python3 - "$out/ab.log" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    side, _, payload = line.partition(" ")
    d = json.loads(payload)
    if d["shape"][3] == 64:
        rows.setdefault((*d["shape"], d["causal"]), {}).setdefault(side, []).append(d["ms"])
score = {v: statistics.geometric_mean([statistics.median(by["head"]) / statistics.median(by[v]) for by in rows.values()]) for v in ["p2", "p3", "p4"]}
print(max(score, key=score.get))
PY
)
echo "best at head dim 64: $best"
# The sm_90a images of the embedded (poly off) sources, for the prebuilt store.
ATTENTIONGEN_WRITE_PREBUILT=1 timeout 200 tests/gpu-on-device.sh run -class AttentionGen.Tests.Cuda.Prebuilt.PrebuiltKernelBuildTests -nocolor -verbose >"$out/writer.log" 2>&1
echo "writer exit $?"; grep -E "Not built|Every target|Total:" "$out/writer.log"
tar -cf "$out/store-main.tar" runtime/Cuda/Prebuilt/Store/*sm_90a* runtime/Cuda/Prebuilt/Store/manifest.json; tar -tf "$out/store-main.tar" | wc -l
for v in main; do
  echo "== CudaHopperHeadDimTests under $v ($(left) s left)"
  [ "$v" = main ] && unset ATTENTIONGEN_KERNEL_DIR || export ATTENTIONGEN_KERNEL_DIR=.kvariants/$v
  ATTENTIONGEN_CACHE_DIR=/tmp/agc-$v timeout $(left) tests/gpu-on-device.sh run -class AttentionGen.Tests.Cuda.CudaHopperHeadDimTests -class AttentionGen.Tests.Cuda.HopperHeadDimsTests -nocolor >"$out/hopper-tests-$v.log" 2>&1
  echo "exit $?"; grep -E "\[FAIL\]|Total:" "$out/hopper-tests-$v.log" | head
done
unset ATTENTIONGEN_KERNEL_DIR
for v in $best; do
  echo "== CudaNaNTests under $v"
  ATTENTIONGEN_KERNEL_DIR=.kvariants/$v ATTENTIONGEN_CACHE_DIR=/tmp/agc-$v timeout $(left) tests/gpu-on-device.sh run -class AttentionGen.Tests.Cuda.CudaNaNTests -nocolor 2>&1 | grep -E "\[FAIL\]|Total:|rror" | head
done
echo "total: $(( $(date +%s) - start )) s"
v=$best-64
echo "== writer under $v ($(left) s left)"
ATTENTIONGEN_KERNEL_DIR=.kvariants/$v ATTENTIONGEN_WRITE_PREBUILT=1 timeout $(left) tests/gpu-on-device.sh run -class AttentionGen.Tests.Cuda.Prebuilt.PrebuiltKernelBuildTests -nocolor -verbose >"$out/writer-$v.log" 2>&1
echo "writer exit $?"; grep -E "Not built|Every target|Total:" "$out/writer-$v.log"
tar -cf "$out/store-$v.tar" runtime/Cuda/Prebuilt/Store/*sm_90a* runtime/Cuda/Prebuilt/Store/manifest.json; tar -tf "$out/store-$v.tar" | wc -l
echo "== CudaHopperHeadDimTests under $v ($(left) s left)"
ATTENTIONGEN_KERNEL_DIR=.kvariants/$v ATTENTIONGEN_CACHE_DIR=/tmp/agc-$v timeout $(left) tests/gpu-on-device.sh run -class AttentionGen.Tests.Cuda.CudaHopperHeadDimTests -nocolor >"$out/hopper-tests-$v.log" 2>&1
echo "exit $?"; grep -E "\\[FAIL\\]|Total:" "$out/hopper-tests-$v.log" | head
echo "total: $(( $(date +%s) - start )) s"
