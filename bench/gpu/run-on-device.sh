#!/usr/bin/env bash
# The GPU machine's work, in parts sized for one device call each (600 s): every part ends inside its own time limits
# and writes its whole log under $OUT (or ./device-out), so a part cut short still returns what it measured.
# Expects publish/gpu, publish/sample, publish/cpu (README, Benchmarks) and .devtests (tests/gpu-on-device.sh prepare),
# or one carry of .devtests packed by bench/gpu/pack-for-device.sh (tests, the sample, bench/gpu and bench/cpu as JIT builds).
# usage: bench/gpu/run-on-device.sh tests | tests-flex | cpu-native | sample | timing | prefill | sm90 | sm90-tests | sm90-compile | lengths | decode | cpu | llama | ilgpu | ilgpu-time | distributed
#   tests   the GPU tests but the flex classes, one line per test with its time (TESTS_TIMEOUT); with a cold kernel cache
#           the whole suite does not fit one call's 600 s (session 24), so
#   tests-flex  CudaFlexTests and LibraryModCudaTests (NVRTC compiles each flex layer, ~12 s) run in a call of their own
#   cpu-native  the host Xeon's bf16 pair and AMX kernel tests (AMX on), then their GEMM speed
#   sample  the published sample cold and warm and with NVRTC hidden (kernels from the store and the app's zip only)
#   timing  sample, then PyTorch vs ours: dense/causal, the flex masks, the variants
#   prefill issue #24's matrix: every head dim 64..256 at (4,16,4096,D) and (1,16,16384,D), and causal GQA 32/8, 64/8, MQA
#   sm90    the Hopper kernel: ptxas's register and spill report at 64 and 256, then the head-dims matrix at 40, 80, 128,
#           256 with ours on the mma.sync kernel as a peer
#   sm90-tests  the GPU tests of the Hopper kernel's head dims against the float64 reference
#   sm90-compile  the Hopper kernel's sm_90a compile test at every head dim (NVRTC 12)
#   lengths N from 512 to 32K at head dim 128 (65536 tokens a call), dense and causal, against cuDNN, FA2 and flex
#   decode  a decode step against a full KV cache (contiguous, paged): ours (tensor cores) vs SDPA cuDNN/flash and
#           flex, TB/s; ragged causal prefill (16 sequences of 1..4096 tokens) against one causal 4096 call; then ours
#           with the scalar kernel and at pipeline depths 2 and 4
#   cpu     decode's scaling over 1-16 threads, then ours vs torch's CPU SDPA, pinned, 2 threads then 16
#           (bench/cpu/compare_cpu.py; CPU_REPS calls a round)
#   cpu-tiles  the CPU kernel's query x key tiles at 2 and 16 threads (fp32, bf16; dense, causal; both prefill shapes),
#           then torch's 16-thread table beside ours at the default tiles (CPU_TILES lists the tiles to try)
#   llama   transformers' LlamaAttention written by PyTorch, loaded and compared by attentiongen-gpu llama-check
#   ilgpu   the ILGPU tensor-core tests, then the sample's ILGPU layers on ILGPU's CUDA accelerator, bf16 on the tensor
#           cores and (ATTENTIONGEN_ILGPU_TENSOR_CORES=0) on the scalar kernel (the JIT build in .devtests; carry .devtests)
#   ilgpu-time  (ILGPU_TIME=1 bundle) the ILGPU tensor-core kernel alone beside the CUDA C kernel, then ncu on one launch
#   distributed  (a multi-GPU kind) the distributed tests, then dilated attention at 1M-8M tokens on one GPU and on all
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-device-out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 ATTENTIONGEN_CACHE_DIR="${ATTENTIONGEN_CACHE_DIR:-/tmp/attentiongen-cache}"
bin=publish/gpu/attentiongen-gpu
# bench/gpu/pack-for-device.sh's bundle: the sample and bench/gpu inside .devtests (one carry).
[ -f .devtests/publish.tar.xz ] && [ ! -e publish/gpu ] && xz -dc .devtests/publish.tar.xz | tar -xf -
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# The published sample on the GPU: cold and warm kernel cache, then NVRTC hidden with an empty cache (issue #26: the
# package store and the app's attentiongen-app-kernels.zip must serve every kernel).
sample_runs() {
    for run in cold warm; do
        start=$(date +%s%N)
        ATTENTIONGEN_CACHE_DIR=/tmp/sample-cache timeout 90 publish/sample/attentiongen-sample --device cuda >"$out/sample-$run.log" 2>&1
        echo "sample --device cuda, $run kernel cache: exit $?, $(ms_since "$start") ms"
    done
    start=$(date +%s%N)
    ATTENTIONGEN_LIBNVRTC=/nonexistent ATTENTIONGEN_CACHE_DIR=/tmp/sample-no-nvrtc timeout 90 publish/sample/attentiongen-sample --device cuda >"$out/sample-no-nvrtc.log" 2>&1
    echo "sample --device cuda, NVRTC hidden, empty cache: exit $?, $(ms_since "$start") ms"
    cat "$out/sample-no-nvrtc.log"   # first ms against ms: what a [Flex] layer's first call costs without NVRTC (#26)
}

case "${1:-}" in
tests)
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
    timeout "${TESTS_TIMEOUT:-560}" tests/gpu-on-device.sh run -namespace AttentionGen.Tests.Cuda -namespace AttentionGen.Tests.Distributed -nocolor -verbose \
        -noclass AttentionGen.Tests.Cuda.KernelSourceCompileTests -noclass AttentionGen.Tests.Cuda.HopperKernelSourceCompileTests -noclass AttentionGen.Tests.Cuda.AmpereHelperKernelSourceCompileTests -noclass AttentionGen.Tests.Cuda.CudaFlexTests -noclass AttentionGen.Tests.Cuda.LibraryModCudaTests >"$out/tests.log" 2>&1
    echo "tests exit $?"
    grep -E "\[FAIL\]|Total:" "$out/tests.log"
    grep -A12 "\[FAIL\]" "$out/tests.log" | head -60 ;;
tests-flex)
    timeout "${TESTS_TIMEOUT:-560}" tests/gpu-on-device.sh run -class AttentionGen.Tests.Cuda.CudaFlexTests -class AttentionGen.Tests.Cuda.LibraryModCudaTests -nocolor -verbose >"$out/tests-flex.log" 2>&1
    echo "flex tests exit $?"
    grep -E "\[FAIL\]|Total:" "$out/tests-flex.log"
    grep -A12 "\[FAIL\]" "$out/tests-flex.log" | head -60 ;;
cpu-native)
    # The host's Xeon: the bf16 pair kernels and the AMX tiles, then bf16 attention on them;
    # then the GEMM blocks' speed (an AMX row where the tiles run).
    grep -o -E "amx_bf16|avx512_bf16" /proc/cpuinfo | sort -u | tr '\n' ' '
    timeout 120 tests/gpu-on-device.sh run -class AttentionGen.Tests.Numerics.AmxBf16KernelsTests -class AttentionGen.Tests.Numerics.Bf16DotKernelsTests -class AttentionGen.Tests.Numerics.BFloat16CpuTests -nocolor -verbose >"$out/cpu-native.log" 2>&1
    echo "cpu-native tests exit $?"
    grep -E "\[FAIL\]|\[SKIP\]|Total:" "$out/cpu-native.log"
    grep -A12 "\[FAIL\]" "$out/cpu-native.log" | head -40
    timeout 60 publish/cpu/attentiongen-bench --gemm 2>&1 | tee "$out/gemm.log" | tail -8 ;;
sample)
    sample_runs ;;
timing)
    sample_runs
    timeout 150 python3 bench/gpu/compare.py --binary $bin 2>&1 | tee "$out/compare.log" | tail -8
    timeout 170 python3 bench/gpu/compare.py --binary $bin --flex 2>&1 | tee "$out/flex.log" | tail -11
    timeout 150 python3 bench/gpu/compare.py --binary $bin --variants 2>&1 | tee "$out/variants.log" | tail -16 ;;
prefill)
    timeout 430 python3 bench/gpu/compare.py --binary $bin --head-dims 2>&1 | tee "$out/head-dims.log" | tail -24
    timeout 140 python3 bench/gpu/compare.py --binary $bin --gqa 2>&1 | tee "$out/gqa.log" | tail -15 ;;
sm90)
    # A fresh cache so NVRTC compiles (verbose) the Hopper kernels and ptxas reports their registers and spills.
    for d in 64 256; do
        ATTENTIONGEN_NVRTC_VERBOSE=1 ATTENTIONGEN_CACHE_DIR=/tmp/sm90-verbose-cache timeout 100 \
            $bin time 1,16,4096,$d >"$out/sm90-ptxas-$d.log" 2>&1
        echo "ptxas, head dim $d (exit $?):"
        grep -E "ag_flash_fwd_sm90|registers|spill" "$out/sm90-ptxas-$d.log" | head -16
    done
    timeout 380 python3 bench/gpu/compare.py --binary $bin --head-dims --dims 40,80,128,256 --mma-sync-peer --no-flex 2>&1 | tee "$out/sm90.log" | tail -10 ;;
sm90-tests)
    # The Hopper head dims' GPU tests compile the padded head dims' modules at first use (NVRTC 12, ~15 s each).
    timeout "${TESTS_TIMEOUT:-560}" tests/gpu-on-device.sh run -class AttentionGen.Tests.Cuda.CudaHopperHeadDimTests -class AttentionGen.Tests.Cuda.HopperHeadDimsTests \
        -nocolor -verbose >"$out/sm90-tests.log" 2>&1
    echo "sm90 tests exit $?"
    grep -E "\[FAIL\]|Total:" "$out/sm90-tests.log"
    grep -A12 "\[FAIL\]" "$out/sm90-tests.log" | head -60 ;;
sm90-compile)
    # The Hopper kernel for sm_90a under every launcher's headers at every head dim it is built for (ptxas included).
    timeout "${TESTS_TIMEOUT:-580}" tests/gpu-on-device.sh run -method AttentionGen.Tests.Cuda.HopperKernelSourceCompileTests.TheHopperKernelCompilesForSm90a \
        -nocolor -verbose >"$out/sm90-compile.log" 2>&1
    echo "sm90a compile test exit $?"
    grep -E "\[FAIL\]|Total:|error" "$out/sm90-compile.log" | head -40 ;;
lengths)
    timeout 400 python3 bench/gpu/compare.py --binary $bin --lengths 2>&1 | tee "$out/lengths.log" | tail -16 ;;
decode)
    # The tensor-core kernel (the default since session 19), then the scalar kernel for the record, then the
    # tensor-core kernel at pipeline depths 2 and 4 (default 3).
    timeout 300 python3 bench/gpu/compare.py --binary $bin --decode 2>&1 | tee "$out/decode.log" | tail -8
    timeout 90 $bin time-ragged 2>&1 | tee "$out/ragged.log" | tail -5
    echo "scalar kernel (ATTENTIONGEN_DECODE_TENSOR_CORES=0):"
    ATTENTIONGEN_DECODE_TENSOR_CORES=0 timeout 60 $bin time-decode 2>&1 | tee "$out/decode-scalar.log" | tail -4
    for stages in 2 4; do
        echo "ATTENTIONGEN_DECODE_STAGES=$stages"
        ATTENTIONGEN_DECODE_STAGES=$stages timeout 60 $bin time-decode 2>&1 | tee "$out/decode-stages-$stages.log" | tail -4
    done ;;
cpu)
    # Decode's scaling first (session 14 saw 16 threads no faster than 2): wall ms against the threads' cpu-ms.
    for threads in 1 2 4 8 16; do
        taskset -c 0-$((threads - 1)) timeout 30 publish/cpu/attentiongen-bench --threads $threads --dtypes fp32,bf16 --reps 9 --cases decode \
            --batch 1 --heads 32 --kv-heads 8 --dim 128 --cache 16384 2>&1 | grep "^decode"
    done | tee "$out/cpu-decode-scaling.log"
    for threads in 2 16; do
        timeout 270 python3 bench/cpu/compare_cpu.py --bench publish/cpu/attentiongen-bench --threads $threads --rounds 2 --reps "${CPU_REPS:-15}" 2>&1 | tee "$out/cpu-$threads.log" | tail -14
    done ;;
cpu-tiles)
    for threads in 2 16; do
        for tiles in ${CPU_TILES:-96x256 192x256 192x512 288x256}; do
            for shape in "--heads 8 --dim 64 --seq 2048" "--heads 16 --dim 128 --seq 4096"; do
                # shellcheck disable=SC2086
                taskset -c 0-$((threads - 1)) timeout 60 publish/cpu/attentiongen-bench --threads $threads --dtypes fp32,bf16 --cases dense,causal --reps 3 \
                    $shape --qbucket "${tiles%x*}" --kbucket "${tiles#*x}" 2>&1 | grep -E "^(dense|causal)" | sed "s/^/$tiles ${shape// /_} /"
            done
        done
    done | tee "$out/cpu-tiles.log"
    timeout 200 python3 bench/cpu/compare_cpu.py --bench publish/cpu/attentiongen-bench --threads 16 --rounds 1 --reps "${CPU_REPS:-7}" 2>&1 | tee "$out/cpu-16.log" | tail -14 ;;
llama)
    timeout 200 python3 bench/gpu/llama_check.py /tmp/llama 2>&1 | tail -3
    timeout 200 $bin llama-check /tmp/llama 2>&1 | tee "$out/llama.log" | tail -12 ;;
ilgpu-time)
    # (ILGPU_TIME=1 bundle) The ILGPU tensor-core kernel alone (inputs on the GPU) beside the CUDA C kernel on the same
    # shapes, then ncu's summary of one ILGPU launch: what limits it. 150 + 120 + 200 s at most.
    [ -x /tmp/dotnet/dotnet ] || { mkdir -p /tmp/dotnet && xz -dc .devtests/dotnet-runtime.tar.xz | tar -C /tmp/dotnet -xf -; }
    xz -dc .devtests/ilgpu-time.tar.xz | tar -xf -
    export DOTNET_ROOT=/tmp/dotnet DOTNET_ROLL_FORWARD=Major
    shapes="4,16,4096,128 4,16,4096,64 1,16,16384,128"
    # shellcheck disable=SC2086
    timeout 150 /tmp/dotnet/dotnet bench/ilgpu/bin/Release/net9.0/attentiongen-ilgpu.dll $shapes 2>&1 | tee "$out/ilgpu-time.log"
    # shellcheck disable=SC2086
    timeout 120 /tmp/dotnet/dotnet bench/gpu/bin/Release/net9.0/attentiongen-gpu.dll time $shapes 2>&1 | tee "$out/cuda-time.log"
    timeout 200 ncu --launch-skip 1 --launch-count 1 --section SpeedOfLight --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis \
        --section WarpStateStats --section InstructionStats --section LaunchStats --section Occupancy \
        /tmp/dotnet/dotnet bench/ilgpu/bin/Release/net9.0/attentiongen-ilgpu.dll 1,16,4096,128,true >"$out/ilgpu-ncu.log" 2>&1
    grep -E "Duration|Throughput|Issue Slots Busy|Block Size|Registers Per|Dynamic Shared|Theoretical Occupancy|Achieved Occupancy|Warp Cycles Per Issued" "$out/ilgpu-ncu.log" ;;
distributed)
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    timeout 240 tests/gpu-on-device.sh run -namespace AttentionGen.Tests.Distributed -nocolor -verbose >"$out/distributed-tests.log" 2>&1
    echo "tests exit $?"
    grep -E "\[FAIL\]|Total:" "$out/distributed-tests.log"
    timeout 330 $bin time-distributed 2>&1 | tee "$out/distributed.log" | tail -10 ;;
ilgpu)
    # The tensor-core kernel's GPU tests (ILGPU compiles each kernel on first use); the sample at 1024 and 4096, whose
    # "ILGPU bf16 causal" line times the tensor-core kernel; then 1024 with ATTENTIONGEN_ILGPU_TENSOR_CORES=0, the
    # scalar kernel on the same bf16 problem. 120 + 150 + 170 + 120 s at most.
    timeout 120 tests/gpu-on-device.sh run -class AttentionGen.Tests.Ilgpu.IlgpuTensorCoreGpuTests -nocolor -verbose >"$out/ilgpu-tests.log" 2>&1
    echo "ILGPU tensor-core tests exit $?"
    grep -E "\[FAIL\]|Total:" "$out/ilgpu-tests.log"
    grep -A12 "\[FAIL\]" "$out/ilgpu-tests.log" | head -40
    for seq in 1024 4096; do
        timeout $((seq == 1024 ? 150 : 170)) tests/gpu-on-device.sh sample --backend ilgpu --device cuda --seq $seq 2>&1 | tee "$out/ilgpu-$seq.log" | tail -7
    done
    ATTENTIONGEN_ILGPU_TENSOR_CORES=0 timeout 120 tests/gpu-on-device.sh sample --backend ilgpu --device cuda --seq 1024 2>&1 | tee "$out/ilgpu-1024-scalar.log" | grep "ILGPU bf16" ;;
*)
    sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 2 ;;
esac
