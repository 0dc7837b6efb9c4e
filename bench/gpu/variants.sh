#!/usr/bin/env bash
# Times kernel variants (each a folder under .kvariants/ holding flash_fwd.cu) against each other in one
# device call; each variant first runs the GPU tests (carry .devtests: tests/gpu-on-device.sh prepare). Usage: bench/gpu/variants.sh base lazy ...
set -uo pipefail
bin=${BIN:-publish/gpu/attentiongen-gpu}
for v in "$@"; do
  echo "== $v"
  export ATTENTIONGEN_KERNEL_DIR=.kvariants/$v ATTENTIONGEN_CACHE_DIR=/tmp/agc-$v
  tests/gpu-on-device.sh run -namespace AttentionGen.Tests.Cuda -nocolor | grep -E "\[FAIL\]|Total:"
  $bin time 4,16,4096,64 4,16,4096,128 1,16,16384,128 | grep impl
done
