#!/usr/bin/env bash
# One device call: the GPU tests (twice: the second start must load kernels from the disk cache), then the GPU and
# CPU comparisons with PyTorch. Expects publish/gpu/attentiongen-gpu and publish/sample (see README) and .devtests
# (tests/gpu-on-device.sh prepare).
set -uo pipefail
export PYTHONUNBUFFERED=1 ATTENTIONGEN_CACHE_DIR="${ATTENTIONGEN_CACHE_DIR:-/tmp/attentiongen-cache}"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
lscpu | grep -E "Model name|^CPU\(s\)|Flags" | cut -c1-200
bin=publish/gpu/attentiongen-gpu
tests/gpu-on-device.sh run -namespace AttentionGen.Tests.Cuda -nocolor | grep -E "FAIL|Total:|Finished"
tests/gpu-on-device.sh run -namespace AttentionGen.Tests.Cuda -nocolor | tail -3   # second start: kernels from the disk cache
$bin probes             # failure handling: out of memory, a call failing midway, damaged kernel cache entries
publish/sample/attentiongen-sample --device cuda
python3 bench/gpu/compare.py --binary $bin
python3 bench/gpu/compare.py --binary $bin --flex       # the [Flex] masks of FlexLayers.cs against flex_attention
python3 bench/gpu/compare.py --binary $bin --variants   # dilated, strided, local against flex; dilated to 1M tokens
# The CPU table: ours (publish/cpu, see bench/cpu/compare_cpu.py) against torch's CPU SDPA, pinned, 2 and 16 threads.
python3 bench/cpu/compare_cpu.py --bench publish/cpu/attentiongen-bench
