#!/usr/bin/env bash
# One device call: correctness check (twice: the second start must load kernels from the disk cache),
# then the GPU and CPU comparisons with PyTorch. Expects publish/gpu/attentiongen-gpu (see README).
set -uo pipefail
export PYTHONUNBUFFERED=1 ATTENTIONGEN_CACHE_DIR="${ATTENTIONGEN_CACHE_DIR:-/tmp/attentiongen-cache}"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
lscpu | grep -E "Model name|^CPU\(s\)|Flags" | cut -c1-200
bin=publish/gpu/attentiongen-gpu
ATTENTIONGEN_NVRTC_VERBOSE=1 $bin check 2>&1 | grep -v "^\[nvrtc convert" | grep -E "PASS|FAIL|check:|registers|spill|nvrtc|device|rror" | cut -c1-220
$bin check | tail -1
python3 bench/gpu/compare.py --binary $bin
taskset -c 0,1 python3 bench/gpu/compare.py --binary $bin --cpu
