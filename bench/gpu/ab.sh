#!/usr/bin/env bash
# A/B timing of two builds of attentiongen-gpu on the same shapes, alternating rounds in one device call, so a change's
# effect is read against the spread between rounds. Each build gets its own kernel cache (their sources differ).
# usage: bench/gpu/ab.sh BEFORE_BIN AFTER_BIN ROUNDS SHAPE...   (SHAPE: B,H,N,E[,causal] as `attentiongen-gpu time` takes)
set -uo pipefail
before=$1 after=$2 rounds=$3; shift 3
log=$(mktemp)
for r in $(seq 1 "$rounds"); do
    for side in before after; do
        bin=${!side}
        ATTENTIONGEN_CACHE_DIR=/tmp/ab-cache-$side "$bin" time "$@" | sed "s/^/$side /" >>"$log"
    done
done
python3 - "$log" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    side, _, payload = line.partition(" ")
    if not payload.startswith("{"):
        continue
    d = json.loads(payload)
    key = (*d["shape"], d["causal"])
    rows.setdefault(key, {}).setdefault(side, []).append(d["ms"])
print(f"{'shape (B,H,N,E)':<22}{'causal':<8}{'before ms (rounds)':<28}{'after ms (rounds)':<28}{'before/after':>12}")
for key, sides in rows.items():
    b, a = sides.get("before", []), sides.get("after", [])
    fmt = lambda xs: " ".join(f"{x:.3f}" for x in xs)
    ratio = statistics.median(b) / statistics.median(a) if a and b else float("nan")   # above 1: after is faster
    print(f"{str(tuple(key[:4])):<22}{str(key[4]):<8}{fmt(b):<28}{fmt(a):<28}{ratio:>12.3f}")
PY
