#!/usr/bin/env python3
"""The CPU kernels against PyTorch's CPU SDPA on one machine, both sides pinned to the same cores with taskset.

One command runs every case: for each thread count (default 2 and 16) both sides run on cores 0..t-1, fp32 and bf16,
dense, causal, sliding window and decode, alternating ours and torch for --rounds rounds; the table gives each side's
median over the rounds (each round itself a median of --reps calls) and ratio = torch ms / ours ms (above 1: we are
faster). Usage: publish the bench natively where .NET is (the GPU machine has none), then on the machine with torch:

    dotnet publish bench/cpu -c Release -r linux-x64 -p:PublishAot=true -p:IlcInstructionSet=x86-x64-v4 -o publish/cpu
    python3 bench/cpu/compare_cpu.py

--parse FILE prints what the parser reads from a saved attentiongen-bench table (checks the parsing without torch).
"""
import argparse
import json
import statistics
import subprocess
import sys

PREFILL_SHAPES = [(1, 8, 2048, 64), (1, 16, 4096, 128)]
PREFILL_CASES = ["dense", "causal", "window"]
WINDOW = 256
# Decode: one new query per head against a cache of DECODE_CACHE tokens, grouped-query heads (Llama-3-8B-like).
DECODE = {"batch": 1, "heads": 32, "kv_heads": 8, "dim": 128, "cache": 16384}


def parse_bench(text):
    """{(case, dtype, threads): (ms, GB/s or None)} from attentiongen-bench's table; other lines are ignored."""
    rows = {}
    for line in text.splitlines():
        p = line.split()
        if len(p) >= 6 and p[0] in ("dense", "causal", "window", "decode") and p[1] in ("fp32", "bf16") and p[2].isdigit():
            rows[(p[0], p[1], int(p[2]))] = (float(p[3]), None if p[5] == "-" else float(p[5]))
    return rows


def pinned(threads):
    return ["taskset", "-c", f"0-{threads - 1}"]


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out.stdout


def ours(bench, threads, dtypes, reps, shape=None):
    """One attentiongen-bench run pinned to `threads` cores: a prefill shape's cases, or decode when shape is None."""
    cmd = pinned(threads) + [bench, "--threads", str(threads), "--dtypes", ",".join(dtypes), "--reps", str(reps)]
    if shape is None:
        cmd += ["--cases", "decode", "--batch", str(DECODE["batch"]), "--heads", str(DECODE["heads"]),
                "--kv-heads", str(DECODE["kv_heads"]), "--dim", str(DECODE["dim"]), "--cache", str(DECODE["cache"])]
    else:
        b, h, n, e = shape
        cmd += ["--cases", ",".join(PREFILL_CASES), "--window", str(WINDOW),
                "--batch", str(b), "--heads", str(h), "--seq", str(n), "--dim", str(e)]
    return {(case, dtype): ms for (case, dtype, _), (ms, _) in parse_bench(run(cmd)).items()}


def torch_side(threads, dtypes, reps, shape=None):
    """This script as a torch worker in its own process, pinned like ours: {(case, dtype): ms}."""
    cmd = pinned(threads) + [sys.executable, __file__, "--torch-worker", "--threads", str(threads),
                             "--dtypes", ",".join(dtypes), "--reps", str(reps)]
    if shape is not None:
        cmd += ["--shape", ",".join(map(str, shape))]
    return {(r["case"], r["dtype"]): r["ms"] for r in map(json.loads, run(cmd).splitlines()) if r}


def torch_worker(args):
    import time
    import torch
    torch.set_num_threads(int(args.threads))
    f = torch.nn.functional.scaled_dot_product_attention

    def median_ms(fn):
        fn()
        ts = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t0) * 1e3)
        return sorted(ts)[len(ts) // 2]

    for dtype_name in args.dtypes.split(","):
        dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
        if args.shape:
            b, h, n, e = map(int, args.shape.split(","))
            q, k, v = (torch.randn(b, h, n, e, dtype=dtype) for _ in range(3))
            i = torch.arange(n)
            band = (i[None, :] <= i[:, None]) & (i[:, None] - i[None, :] < WINDOW)
            cases = {
                "dense": lambda: f(q, k, v),
                "causal": lambda: f(q, k, v, is_causal=True),
                "window": lambda: f(q, k, v, attn_mask=band),
            }
        else:
            d = DECODE
            q = torch.randn(d["batch"], d["heads"], 1, d["dim"], dtype=dtype)
            k, v = (torch.randn(d["batch"], d["kv_heads"], d["cache"], d["dim"], dtype=dtype) for _ in range(2))
            cases = {"decode": lambda: f(q, k, v, enable_gqa=True)}
        for case, fn in cases.items():
            print(json.dumps({"case": case, "dtype": dtype_name, "ms": median_ms(fn)}), flush=True)


def flops(case, shape):
    if case == "decode":
        return 4.0 * DECODE["batch"] * DECODE["heads"] * DECODE["cache"] * DECODE["dim"]
    b, h, n, e = shape
    pairs = {"dense": n * n, "causal": n * (n + 1) / 2, "window": sum(min(i + 1, WINDOW) for i in range(n))}[case]
    return 4.0 * b * h * pairs * e


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", default="publish/cpu/attentiongen-bench")
    parser.add_argument("--threads", default="2,16")
    parser.add_argument("--dtypes", default="fp32,bf16")
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3, help="ours and torch alternate this many times per setting")
    parser.add_argument("--parse", help="print the rows parsed from a saved attentiongen-bench output, and stop")
    parser.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.parse:
        for key, value in sorted(parse_bench(open(args.parse).read()).items()):
            print(key, value)
        return
    if args.torch_worker:
        torch_worker(args)
        return

    dtypes = args.dtypes.split(",")
    print(f"CPU: ours ({args.bench}) vs torch SDPA, both pinned to cores 0..t-1; medians of {args.rounds} rounds x {args.reps} calls;"
          f" window {WINDOW}, decode {DECODE}. ratio = torch ms / ours ms")
    print(f"{'shape':<20}{'case':<8}{'dtype':<6}{'thr':>4}{'ours ms':>10}{'GFLOP/s':>9}{'torch ms':>10}{'ratio':>7}")
    for threads in map(int, args.threads.split(",")):
        for shape in PREFILL_SHAPES + [None]:
            mine, peer = {}, {}
            for _ in range(args.rounds):
                for key, ms in ours(args.bench, threads, dtypes, args.reps, shape).items():
                    mine.setdefault(key, []).append(ms)
                for key, ms in torch_side(threads, dtypes, args.reps, shape).items():
                    peer.setdefault(key, []).append(ms)
            for (case, dtype), times in sorted(mine.items(), key=lambda kv: (kv[0][1], PREFILL_CASES.index(kv[0][0]) if kv[0][0] in PREFILL_CASES else 9)):
                ms = statistics.median(times)
                torch_ms = statistics.median(peer[(case, dtype)]) if (case, dtype) in peer else float("nan")
                label = str(shape) if shape else "decode " + str(DECODE["cache"])
                print(f"{label:<20}{case:<8}{dtype:<6}{threads:>4}{ms:>10.2f}{flops(case, shape) / ms / 1e6:>9.1f}{torch_ms:>10.2f}{torch_ms / ms:>7.2f}", flush=True)


if __name__ == "__main__":
    main()
