#!/usr/bin/env bash
# bench/first-call/run.sh [ROUNDS]
# Packs the runtime as users get it (dotnet pack -c Release), builds the JIT consumer app in this folder against that
# package, and runs it ROUNDS times (default 10), each a fresh process: the first Forward of a causal [FlashAttention]
# layer against the median of its calls 21-40. Prints each round and the medians.
#   FIRST_CALL_PACK_ARGS   extra arguments for dotnet pack (e.g. -p:AttentionGenReadyToRun=false to time a JIT-only package)
#   FIRST_CALL_KEEP=1      keeps the packed feed and the built app (their folder is printed) for tracing runs
#   DOTNET_*               passed through to the app (e.g. DOTNET_TieredPGO=0, DOTNET_TieredCompilation=0)
#   FIRST_CALL_AOT=1       publishes the app with NativeAOT (linux-x64) under the package's defaults instead of building it
#                          for the JIT; FIRST_CALL_AOT_ARGS adds publish options (-p:IlcInstructionSet=native: the native-ISA
#                          build the default publish is compared with)
set -euo pipefail
rounds="${1:-10}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/attentiongen-first-call.XXXXXX")"
if [[ "${FIRST_CALL_KEEP:-}" == 1 ]]; then echo "work folder: $work"; else trap 'rm -rf "$work"' EXIT; fi

# A version no package cache holds, so restore takes the package packed here.
version="0.1.0-firstcall-$(date +%s)-$$"
dotnet pack "$root/runtime/AttentionGen.csproj" -c Release -o "$work/feed" -p:PackageVersion="$version" \
  --disable-build-servers ${FIRST_CALL_PACK_ARGS:-} >"$work/pack.log" || { cat "$work/pack.log"; exit 1; }
if [[ "${FIRST_CALL_AOT:-}" == 1 ]]; then make=(publish -r linux-x64 -p:PublishAot=true ${FIRST_CALL_AOT_ARGS:-}); else make=(build); fi
dotnet "${make[@]}" "$here/FirstCall.csproj" -c Release -o "$work/app" --disable-build-servers \
  -p:AttentionGenVersion="$version" -p:RestoreAdditionalProjectSources="$work/feed" \
  -p:RestorePackagesPath="$work/packages" -p:RestoreFallbackFolders="${NUGET_PACKAGES:-$HOME/.nuget/packages}" \
  >"$work/build.log" || { cat "$work/build.log"; exit 1; }

for ((i = 1; i <= rounds; i++)); do
  "$work/app/attentiongen-first-call" | tee -a "$work/rounds.txt"
done

# The median of each column over the rounds (a line is "construct C first F second S calls2-5 M steady T ratio R first-jit J first-jit-methods M").
line="median of $rounds:"
for column in construct first second calls2-5 steady ratio first-jit first-jit-methods; do
  median="$(awk -v c="$column" '{ for (f = 1; f < NF; f += 2) if ($f == c) print $(f + 1) }' "$work/rounds.txt" \
    | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
  line="$line $column $median"
done
echo "$line"
