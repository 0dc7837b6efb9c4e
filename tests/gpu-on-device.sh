#!/usr/bin/env bash
# The GPU tests (tests/Cuda, GpuFact) on the GPU machine, which has no .NET: `prepare` here packs the built test
# assembly, the .NET runtime and xunit's console runner into .devtests/ (git-ignored; name it in the device call's
# carry); `run` there unpacks them and runs the tests/Cuda namespace, then every other test as a smoke check.
# usage: tests/gpu-on-device.sh prepare     (here, after `dotnet build AttentionGen.sln -c Release`)
#        tests/gpu-on-device.sh run [xunit console options...]   (on the GPU machine, from the repository root)
#        tests/gpu-on-device.sh sample [sample options...]   (there: the JIT build of the sample, which has --backend ilgpu)
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
prepare)
    dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
    runner=$(find ~/.nuget/packages/xunit.runner.console -path '*netcoreapp2.0/xunit.console.dll' | sort | tail -1)
    [ -n "$runner" ] || { echo "xunit.runner.console is not restored: run dotnet build AttentionGen.sln -c Release first"; exit 1; }
    mkdir -p .devtests
    [ -f .devtests/dotnet-runtime.tar.xz ] || tar -C "$dotnet_root" -cf - dotnet host shared/Microsoft.NETCore.App | xz -T2 -6 >.devtests/dotnet-runtime.tar.xz
    rm -rf .devtests/xunit-console && cp -r "$(dirname "$runner")" .devtests/xunit-console
    tar -C tests/bin/Release/net10.0 -cf - . | xz -T2 -6 >.devtests/tests.tar.xz
    tar -C sample-app/bin/Release/net9.0 --exclude=linux-x64 --exclude='*.xml' --exclude='*.pdb' -cf - . | xz -T2 -6 >.devtests/sample.tar.xz
    du -sh .devtests ;;
run)
    shift
    # The tests unpack inside the repository: those that read its files find it above their binaries.
    mkdir -p /tmp/dotnet .devtests/bin
    xz -dc .devtests/dotnet-runtime.tar.xz | tar -C /tmp/dotnet -xf -
    xz -dc .devtests/tests.tar.xz | tar -C .devtests/bin -xf -
    export DOTNET_ROOT=/tmp/dotnet DOTNET_ROLL_FORWARD=Major
    /tmp/dotnet/dotnet .devtests/xunit-console/xunit.console.dll .devtests/bin/AttentionGen.Tests.dll -parallel none "$@" ;;
sample)
    shift
    mkdir -p /tmp/dotnet /tmp/sample
    xz -dc .devtests/dotnet-runtime.tar.xz | tar -C /tmp/dotnet -xf -
    xz -dc .devtests/sample.tar.xz | tar -C /tmp/sample -xf -
    DOTNET_ROOT=/tmp/dotnet DOTNET_ROLL_FORWARD=Major /tmp/dotnet/dotnet /tmp/sample/attentiongen-sample.dll "$@" ;;
*)
    sed -n '2,8p' "$0"; exit 2 ;;
esac
