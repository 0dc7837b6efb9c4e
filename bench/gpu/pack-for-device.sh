#!/usr/bin/env bash
# Packs what one device call needs into .devtests (git-ignored), under the carry limit of 64 MiB: the GPU tests and a
# .NET runtime (tests/gpu-on-device.sh prepare), the NativeAOT sample with its app kernels, and bench/gpu as a JIT build
# run by that runtime (its NativeAOT binary does not fit beside the tests). run-on-device.sh unpacks it.
# bench/cpu travels as a JIT build too, beside bench/gpu's and sharing its AttentionGen.dll (the NativeAOT one would pass
# the carry limit). ILGPU=1 packs the ILGPU part's bundle instead: the tests and the JIT sample, no NativeAOT builds.
# The app's kernels zip fits only without the tests: SAMPLE=1 leaves them out for the sample's NVRTC-hidden run.
# NO_SAMPLE=1 leaves the NativeAOT sample out (the tests and the benches with room to spare; no publish step).
# ILGPU_TIME=1 packs only the runtime with bench/ilgpu and bench/gpu as JIT builds (run-on-device.sh ilgpu-time).
# usage: [ILGPU=1 | SAMPLE=1 | NO_SAMPLE=1 | ILGPU_TIME=1] bench/gpu/pack-for-device.sh   (after dotnet build AttentionGen.sln -c Release)
set -euo pipefail
cd "$(dirname "$0")/../.."
# All that travels counts against the 64 MiB limit: the carry and the tracked files together. The device counted a
# bundle 36 KB under the limit as over it (session 20): keep a MiB of margin.
limit=$((67108864 - 1048576))
# (A tracked file deleted in the work tree, e.g. a stale prebuilt image, does not travel.)
tracked=$( (git ls-files -z | xargs -0 du -cb 2>/dev/null || true) | tail -1 | cut -f1)
carried() { echo $(($(du -sb .devtests | cut -f1) + tracked)); }
within_limit() {
    echo "carry .devtests + tracked files: $1 bytes (limit with margin $limit)"
    [ "$1" -le "$limit" ] || { echo "over the device's limit: the call would be refused"; exit 1; }
}
tests/gpu-on-device.sh prepare >/dev/null
if [ "${ILGPU_TIME:-0}" = 1 ]; then
    rm -f .devtests/tests.tar.xz .devtests/sample.tar.xz .devtests/publish.tar.xz
    tar -cf - bench/ilgpu/bin/Release/net9.0 bench/gpu/bin/Release/net9.0 | xz -T2 -6 >.devtests/ilgpu-time.tar.xz
    within_limit "$(carried)"
    exit 0
fi
rm -f .devtests/ilgpu-time.tar.xz
if [ "${ILGPU:-0}" = 1 ]; then
    rm -f .devtests/publish.tar.xz   # run-on-device.sh ilgpu needs the tests and the JIT sample only
    within_limit "$(carried)"
    exit 0
fi
rm -f .devtests/sample.tar.xz   # the tests, the NativeAOT sample and the benches do not fit beside it
[ "${SAMPLE:-0}" = 1 ] && rm -f .devtests/tests.tar.xz
stage=$(mktemp -d)
mkdir -p "$stage/publish/gpu-jit" "$stage/publish/gpu"
if [ "${NO_SAMPLE:-0}" != 1 ]; then
    dotnet publish sample-app -c Release -r linux-x64 -p:PublishAot=true -o publish/sample | grep -E "warning|error|AttentionGen kernels:.*→" || true
    mkdir -p "$stage/publish/sample"
    cp publish/sample/attentiongen-sample "$stage/publish/sample/"
    [ -f publish/sample/attentiongen-app-kernels.zip ] && cp publish/sample/attentiongen-app-kernels.zip "$stage/publish/sample/"
fi
jit=bench/gpu/bin/Release/net9.0
cp "$jit"/AttentionGen.Reference.dll "$jit"/AttentionGen.dll "$jit"/attentiongen-gpu.dll "$jit"/attentiongen-gpu.deps.json "$jit"/attentiongen-gpu.runtimeconfig.json "$stage/publish/gpu-jit/"
cpu=bench/cpu/bin/Release/net9.0
mkdir -p "$stage/publish/cpu"
cmp "$cpu"/AttentionGen.dll "$jit"/AttentionGen.dll
cp "$cpu"/attentiongen-bench.dll "$cpu"/attentiongen-bench.deps.json "$cpu"/attentiongen-bench.runtimeconfig.json "$stage/publish/gpu-jit/"
# Each JIT build (both in gpu-jit) runs under the runtime tests/gpu-on-device.sh unpacks into /tmp/dotnet.
jit_wrapper() {
    cat >"$stage/publish/$1/$2" <<WRAP
#!/bin/sh
# Unpacked aside and renamed into place: runs started side by side each unpack their own, and one rename wins.
[ -x /tmp/dotnet/dotnet ] || { d=\$(mktemp -d /tmp/dotnet-XXXXXX) && xz -dc .devtests/dotnet-runtime.tar.xz | tar -C "\$d" -xf - && { mv -T "\$d" /tmp/dotnet 2>/dev/null || rm -rf "\$d"; }; }
export DOTNET_ROOT=/tmp/dotnet DOTNET_ROLL_FORWARD=Major
exec /tmp/dotnet/dotnet "\$(dirname "\$0")/../gpu-jit/$2.dll" "\$@"
WRAP
    chmod +x "$stage/publish/$1/$2"
}
jit_wrapper gpu attentiongen-gpu
jit_wrapper cpu attentiongen-bench
# Where the app's kernels zip (2.2 MB; only the sample's NVRTC-hidden run needs it) is what does not fit, it stays out.
bundle() { tar -C "$stage" -cf - publish | xz -T2 -6 >.devtests/publish.tar.xz; carried; }
total=$(bundle)
if [ "$total" -gt "$limit" ] && [ -f "$stage/publish/sample/attentiongen-app-kernels.zip" ]; then
    rm "$stage/publish/sample/attentiongen-app-kernels.zip"
    total=$(bundle)
    echo "the app's kernels zip is left out (the sample's NVRTC-hidden run then compiles, or finds no kernel)"
fi
rm -rf "$stage"
within_limit "$total"
