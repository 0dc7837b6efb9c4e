#!/usr/bin/env python3
"""Times PyTorch and AttentionGen on the same shapes in one run, and prints a ratio table.

GPU: SDPA with the flash and cuDNN backends and flex_attention (compiled), bf16, dense and causal,
against `attentiongen-gpu time`. CPU (--cpu): PyTorch's CPU SDPA with 2 threads against
`attentiongen-gpu cpu` with 2 threads, fp32. Ratio = peer ms / our ms (above 1: we are faster).
The full CPU table (2 and 16 threads pinned with taskset, fp32 and bf16, dense, causal, sliding window, decode) is
bench/cpu/compare_cpu.py.
"""
import argparse
import json
import os
import subprocess
import sys

import torch
import torch._dynamo

# Each shape compiles flex_attention anew; past dynamo's recompile limit (8 by default) PyTorch falls back to eager
# flex_attention, which materializes the scores (session 30's matrix timed flex 20-70x slower from its ninth shape on,
# likely this; not yet rerun). Every shape here gets its own compiled kernel.
for _limit in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit", "accumulated_cache_size_limit"):
    if hasattr(torch._dynamo.config, _limit):
        setattr(torch._dynamo.config, _limit, 1024)

GPU_SHAPES = [(4, 16, 4096, 64), (4, 16, 4096, 128), (1, 16, 16384, 128)]
HEAD_DIMS = (64, 96, 128, 192, 256)   # issue #24's matrix: every head dim at (4,16,4096,D) and (1,16,16384,D)
GQA_SHAPES = [(4, 32, 8, 4096, 128), (4, 64, 8, 4096, 128), (4, 32, 1, 4096, 128)]   # B, Hq, Hkv, N, E: GQA 4, GQA 8, MQA
LENGTHS = (512, 1024, 2048, 4096, 8192, 16384, 32768)   # --lengths: (65536 / N, 16, N, 128), the same tokens at each N
DENSE_TFLOPS = 989.0   # the H200's dense bf16 tensor-core limit (datasheet; about 790 measured for a large GEMM)
CPU_SHAPES = [(1, 8, 2048, 64)]
CPU_REPS = 15   # both sides' median of this many runs after one warm-up (Timing.Cpu runs as many): the host's cores are shared


def flops(b, h, n, e, causal):
    return 4.0 * b * h * n * n * e / (2 if causal else 1)


def time_gpu(fn, reps=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    stop = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for i in range(reps):
        start[i].record()
        fn()
        stop[i].record()
    torch.cuda.synchronize()
    times = sorted(s.elapsed_time(e) for s, e in zip(start, stop))
    return times[len(times) // 2]


def torch_gpu(shape, causal, with_flex=True):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    b, h, n, e = shape
    q, k, v = (torch.randn(b, h, n, e, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    results = {}
    for name, backend in [("sdpa-flash", SDPBackend.FLASH_ATTENTION), ("sdpa-cudnn", SDPBackend.CUDNN_ATTENTION)]:
        try:
            with sdpa_kernel(backend):
                results[name] = time_gpu(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal))
        except Exception as ex:  # a backend the build lacks is reported, not fatal
            print(f"# {name} {shape} causal={causal}: {type(ex).__name__}: {str(ex)[:120]}", file=sys.stderr)
    if with_flex:
        flex = torch.compile(flex_attention)
        mask = create_block_mask(lambda b_, h_, q_, kv_: q_ >= kv_, None, None, n, n) if causal else None
        results["flex"] = time_gpu(lambda: flex(q, k, v, block_mask=mask))
    return results


FLEX_SHAPE = (4, 16, 4096, 128)


def flex_mods():
    """The masks of bench/gpu/FlexLayers.cs, by the names attentiongen-gpu time-flex prints: (mask_mod, score_mod)."""
    slopes = torch.tensor([0.01, -0.02, 0.005, 0.0], device="cuda")
    causal = lambda b, h, q, kv: kv <= q
    return {
        "causal": (causal, None),
        "sliding-window": (lambda b, h, q, kv: (kv <= q) & (q - kv < 256), None),
        "prefix-lm": (lambda b, h, q, kv: (kv <= q) | (kv < 1024), None),
        "document": (lambda b, h, q, kv: (q // 1000 == kv // 1000) & (kv <= q), None),
        "alibi": (None, lambda s, b, h, q, kv: s + torch.exp2(-8.0 * (h + 1) / 16.0) * (kv - q)),
        "softcap": (None, lambda s, b, h, q, kv: 20.0 * torch.tanh(s / 20.0)),
        "causal+bias": (causal, lambda s, b, h, q, kv: s + slopes[h % 4] * (q - kv)),
        "window|sinks": (lambda b, h, q, kv: ((kv <= q) & (q - kv < 512)) | (kv < 64), None),
    }


def flex_table(binary):
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    b, h, n, e = FLEX_SHAPE
    out = subprocess.run([binary, "time-flex", ",".join(map(str, FLEX_SHAPE))], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{binary} time-flex failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    mine = {r["mask"]: r for r in (json.loads(l) for l in out.stdout.splitlines() if l.startswith("{"))}
    q, k, v = (torch.randn(b, h, n, e, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    flex = torch.compile(flex_attention)
    print(f"\nflex_attention vs ours, {FLEX_SHAPE} bf16 on {torch.cuda.get_device_name()} (ratio = flex ms / ours ms; above 1 we are faster)")
    print(f"{'mask':<16}{'ours ms':>9}{'flex ms':>9}{'ratio':>7}  {'plan':<12}{'sparsity':>9}")
    for name, (mask_mod, score_mod) in flex_mods().items():
        block_mask = create_block_mask(mask_mod, None, None, n, n) if mask_mod else None
        peer = time_gpu(lambda: flex(q, k, v, score_mod=score_mod, block_mask=block_mask))
        r = mine[name]
        plan = "closed form" if r["closed_form"] else ("block mask" if block_mask is not None else "dense")
        sparsity = f"{block_mask.sparsity():.1f}%" if block_mask is not None else "-"
        print(f"{name:<16}{r['ms']:>9.3f}{peer:>9.3f}{peer / r['ms']:>7.2f}  {plan:<12}{sparsity:>9}")


def dilated_mask(w, r, heads):
    group = -(-heads // r)  # torchscale pads the heads to a multiple of r
    return lambda b, h, q, kv: (q // w == kv // w) & ((q % w) % r == h // group) & ((kv % w) % r == h // group)


def variants_table(binary):
    """Dilated, strided and local at (1, 16, 16384, 128) bf16 against flex_attention with the same mask_mod, and
    dilated attention's length sweep. A mixture is one flex call per branch (flex has no LSE merge)."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    out = subprocess.run([binary, "time-variants"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{binary} time-variants failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    print("\n".join(l for l in out.stdout.splitlines() if l.startswith("#")))
    rows = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
    mine = {r["variant"]: r["ms"] for r in rows if r["variant"] != "dilated-sweep"}
    b, h, n, e = 1, 16, 16384, 128
    q, k, v = (torch.randn(b, h, n, e, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    flex = torch.compile(flex_attention)
    masks = {
        "dilated": [dilated_mask(2048, 4, h)],
        "dilated-mixture": [dilated_mask(w, r, h) for w, r in ((2048, 1), (4096, 2), (8192, 4))],
        "strided": [lambda b_, h_, q_, kv_: (kv_ <= q_) & ((q_ - kv_) % 128 == 0)],
        "local": [lambda b_, h_, q_, kv_: (kv_ <= q_) & (q_ - kv_ < 256)],
        # lucidrains' LocalAttention(256): each window sees itself and its two neighbours.
        "local-windows": [lambda b_, h_, q_, kv_: (kv_ // 256 >= q_ // 256 - 1) & (kv_ // 256 <= q_ // 256 + 1)],
    }
    print(f"\nvariants vs flex_attention (same mask_mod), {(b, h, n, e)} bf16 (ratio = flex ms / ours ms)")
    print(f"{'variant':<18}{'ours ms':>9}{'flex ms':>9}{'ratio':>8}{'flex sparsity':>15}")
    for name, mods in masks.items():
        block_masks = [create_block_mask(m, None, h, n, n) for m in mods]
        peer = sum(time_gpu(lambda bm=bm: flex(q, k, v, block_mask=bm)) for bm in block_masks)
        sparsity = sum(bm.sparsity() for bm in block_masks) / len(block_masks)
        print(f"{name:<18}{mine[name]:>9.3f}{peer:>9.3f}{peer / mine[name]:>8.2f}{sparsity:>14.1f}%")
    branches = {k: ms for k, ms in mine.items() if k.startswith("mixture-branch-")}
    if branches:
        print("the mixture's branches alone (r > 1 with a zero fill of the output): " +
              ", ".join(f"{k[15:]} {ms:.3f}" for k, ms in branches.items()) + f"; sum {sum(branches.values()):.3f} ms")
    print("\ndilated attention length sweep, (1, 16, N, 128) bf16, w = 2048/8192/32768/65536, r = 1/4/16/32")
    print(f"{'N':>9}{'ms':>10}{'ms per 64K tokens':>20}")
    for r in (r for r in rows if r["variant"] == "dilated-sweep"):
        print(f"{r['n']:>9}{r['ms']:>10.2f}{r['ms'] * 65536 / r['n']:>20.2f}")


HBM_TBPS = 4.8   # the H200's HBM3e bandwidth (datasheet); decode's limit is the cache's bytes over it


def hbm_tbps():
    """The GPU's HBM bandwidth (datasheet): 3.35 TB/s on an H100 SXM, else the H200's."""
    import torch
    return 3.35 if "H100" in torch.cuda.get_device_name() else HBM_TBPS


def decode_table(binary):
    """One decode step (a query per sequence, 32 query heads over 8 kv heads, head dim 128, bf16) against a full cache:
    ours (contiguous, paged 16 and 128) against SDPA's cuDNN and flash backends and compiled flex_attention with GQA;
    then ours over an fp8 e4m3 cache, with its speed against cuDNN's bf16 decode (issue #25 asks 1.7x)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.attention.flex_attention import flex_attention
    out = subprocess.run([binary, "time-decode"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{binary} time-decode failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    mine = {}
    for r in (json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")):
        mine.setdefault((r["batch"], r["tokens"]), {})[r["layout"]] = r["ms"]
    flex = torch.compile(flex_attention)
    print(f"\ndecode, 32 q heads / 8 kv heads, E 128, bf16 on {torch.cuda.get_device_name()} "
          f"(TB/s of K+V read, % of {hbm_tbps()} TB/s; ratio = peer ms / ours contiguous ms)")
    print(f"{'B, cached':<14}{'ours ms':>9}{'TB/s':>7}{'%HBM':>6}{'paged16':>9}{'paged128':>9}"
          f"{'cudnn ms':>10}{'ratio':>7}{'flash ms':>10}{'ratio':>7}{'flex ms':>9}{'ratio':>7}{'fp8 ms':>8}{'vs cudnn':>9}")
    for (b, n), layouts in mine.items():
        q = torch.randn(b, 32, 1, 128, device="cuda", dtype=torch.bfloat16)
        k, v = (torch.randn(b, 8, n, 128, device="cuda", dtype=torch.bfloat16) for _ in range(2))
        peers = {}
        for name, backend in [("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION)]:
            try:
                with sdpa_kernel(backend):
                    peers[name] = time_gpu(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True))
            except Exception as ex:  # a backend without GQA here runs on K/V expanded to the query heads, as PyTorch's callers do
                print(f"# {name} (B {b}, {n}): {type(ex).__name__}: {str(ex)[:100]}; timed on expanded K/V", file=sys.stderr)
                ke, ve = k.repeat_interleave(4, dim=1), v.repeat_interleave(4, dim=1)
                try:
                    with sdpa_kernel(backend):
                        peers[name] = time_gpu(lambda: torch.nn.functional.scaled_dot_product_attention(q, ke, ve))
                except Exception as ex2:
                    print(f"# {name} (B {b}, {n}): {type(ex2).__name__}: {str(ex2)[:100]}", file=sys.stderr)
        peers["flex"] = time_gpu(lambda: flex(q, k, v, enable_gqa=True))
        ms = layouts["contiguous"]
        tbps = 2.0 * b * 8 * n * 128 * 2 / ms / 1e9
        line = f"{f'{b}, {n}':<14}{ms:>9.3f}{tbps:>7.2f}{100 * tbps / hbm_tbps():>5.0f}%{layouts.get('paged-16', float('nan')):>9.3f}{layouts.get('paged-128', float('nan')):>9.3f}"
        for name, width in (("cudnn", 10), ("flash", 10), ("flex", 9)):
            peer = peers.get(name)
            line += f"{peer:>{width}.3f}{peer / ms:>7.2f}" if peer else f"{'-':>{width}}{'-':>7}"
        fp8 = layouts.get("fp8")
        line += f"{fp8:>8.3f}{peers['cudnn'] / fp8:>9.2f}" if fp8 and peers.get("cudnn") else f"{'-':>8}{'-':>9}"
        print(line)


def gqa_table(binary):
    """Causal grouped-query attention (GQA 4, GQA 8, MQA): ours against cuDNN on K/V expanded to the query heads (as
    PyTorch's callers run it), FA2 and flex_attention with enable_gqa."""
    out = subprocess.run([binary, "time-gqa", *(",".join(map(str, s)) for s in GQA_SHAPES)], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{binary} time-gqa failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    rows = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
    for shape, row in zip(GQA_SHAPES, rows):
        gqa_row(shape, row["ms"])


def gqa_row(shape, mine):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    b, hq, hkv, n, e = shape
    q = torch.randn(b, hq, n, e, device="cuda", dtype=torch.bfloat16)
    k, v = (torch.randn(b, hkv, n, e, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    ke, ve = k.repeat_interleave(hq // hkv, dim=1), v.repeat_interleave(hq // hkv, dim=1)
    peers = {}
    with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
        peers["cudnn (expanded K/V)"] = time_gpu(lambda: torch.nn.functional.scaled_dot_product_attention(q, ke, ve, is_causal=True))
    try:
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            peers["flash (enable_gqa)"] = time_gpu(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True))
    except Exception as ex:
        print(f"# flash with enable_gqa: {type(ex).__name__}: {str(ex)[:100]}", file=sys.stderr)
    mask = create_block_mask(lambda b_, h_, q_, kv_: q_ >= kv_, None, None, n, n)
    flex = torch.compile(flex_attention)
    peers["flex (enable_gqa)"] = time_gpu(lambda: flex(q, k, v, block_mask=mask, enable_gqa=True))
    tflops = flops(b, hq, n, e, True) / mine / 1e9
    print(f"\nGQA {hq}q/{hkv}kv, {(b, n, e)} causal bf16: ours {mine:.3f} ms ({tflops:.1f} TFLOP/s, {tflops / DENSE_TFLOPS:.0%} of"
          f" {DENSE_TFLOPS:.0f}); ratio = peer ms / ours ms")
    for name, ms in peers.items():
        print(f"  {name:<24}{ms:>9.3f} ms{ms / mine:>7.2f}")


def ours(binary, mode, shapes, env=None):
    specs = [",".join(map(str, s)) for s in shapes]
    out = subprocess.run([binary, mode, *specs], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"{binary} {mode} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    rows = {}
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            rows[(tuple(r["shape"]), r["causal"])] = r["ms"]
    return rows


def table(title, shapes, ours_ms, peers, unit="TFLOP/s"):
    names = sorted({name for r in peers.values() for name in r})
    per_ms = 1e9 if unit == "TFLOP/s" else 1e6   # FLOP per ms to the unit
    print(f"\n{title}")
    limit = DENSE_TFLOPS if unit == "TFLOP/s" else None
    header = f"{'shape':<22}{'mask':<8}{'ours ms':>9}{unit:>9}{'%limit' if limit else '':>7}" + "".join(f"{n + ' ms':>17}{'ratio':>7}" for n in names)
    print(header)
    for shape in shapes:
        for causal in (False, True):
            key = (tuple(shape), causal)
            mine = ours_ms[key]
            rate = flops(*shape, causal) / mine / per_ms
            line = f"{str(shape):<22}{'causal' if causal else 'dense':<8}{mine:>9.3f}{rate:>9.1f}{f'{rate / limit:.0%}' if limit else '':>7}"
            for n in names:
                peer = peers[key].get(n)
                line += f"{peer:>17.3f}{peer / mine:>7.2f}" if peer else f"{'-':>17}{'-':>7}"
            print(line)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="publish/gpu/attentiongen-gpu")
    parser.add_argument("--cpu", action="store_true", help="CPU peer: 2 threads each")
    parser.add_argument("--flex", action="store_true", help="the [Flex] masks against flex_attention")
    parser.add_argument("--variants", action="store_true", help="dilated, strided and local against flex_attention")
    parser.add_argument("--decode", action="store_true", help="a decode step against a full KV cache: ours vs SDPA and flex")
    parser.add_argument("--head-dims", action="store_true", help="issue #24's matrix: every head dim at (4,16,4096,D) and (1,16,16384,D)")
    parser.add_argument("--dims", help="--head-dims at these head dims only (e.g. 96,192)")
    parser.add_argument("--gqa", action="store_true", help="causal GQA 32q/8kv, 64q/8kv and MQA against cuDNN on expanded K/V, FA2 and flex")
    parser.add_argument("--lengths", action="store_true", help="N from 512 to 32K at head dim 128, the same tokens per call")
    parser.add_argument("--baseline", help="another build of ours, timed in the same call as a peer (A/B of a kernel change)")
    parser.add_argument("--no-flex", action="store_true", help="leave flex_attention out of the prefill table (it compiles per shape)")
    parser.add_argument("--mma-sync-peer", action="store_true", help="ours on the mma.sync kernel (ATTENTIONGEN_DISABLE_WGMMA=1) timed"
                        " in the same call as a peer: what the Hopper kernel gains at each shape")
    args = parser.parse_args()
    if args.flex:
        flex_table(args.binary)
        return
    if args.variants:
        variants_table(args.binary)
        return
    if args.decode:
        decode_table(args.binary)
        return
    if args.gqa:
        gqa_table(args.binary)
        return
    shapes = GPU_SHAPES
    if args.head_dims:
        dims = [int(d) for d in args.dims.split(",")] if args.dims else HEAD_DIMS
        shapes = [s for d in dims for s in ((4, 16, 4096, d), (1, 16, 16384, d))]
    elif args.lengths:
        shapes = [(65536 // n, 16, n, 128) for n in LENGTHS]
    if args.cpu:
        torch.set_num_threads(2)
        peers = {}
        for shape in CPU_SHAPES:
            q, k, v = (torch.randn(*shape) for _ in range(3))
            for causal in (False, True):
                import time
                fn = lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
                fn()
                ts = []
                for _ in range(CPU_REPS):
                    t0 = time.perf_counter()
                    fn()
                    ts.append((time.perf_counter() - t0) * 1e3)
                peers[(tuple(shape), causal)] = {"torch-cpu-2t": sorted(ts)[len(ts) // 2]}
        env = dict(os.environ, ATTENTIONGEN_CPU_THREADS="2")
        table("CPU fp32, 2 threads (ratio = torch ms / ours ms)", CPU_SHAPES, ours(args.binary, "cpu", CPU_SHAPES, env), peers, unit="GFLOP/s")
        return
    ours_ms = ours(args.binary, "time", shapes)
    peers = {(tuple(s), c): torch_gpu(s, c, with_flex=not args.no_flex) for s in shapes for c in (False, True)}
    if args.baseline:
        for key, ms in ours(args.baseline, "time", shapes).items():
            peers[key]["baseline"] = ms
    if args.mma_sync_peer:
        for key, ms in ours(args.binary, "time", shapes, dict(os.environ, ATTENTIONGEN_DISABLE_WGMMA="1")).items():
            peers[key]["mma.sync"] = ms
    table(f"GPU bf16 on {torch.cuda.get_device_name()} (ratio = peer ms / ours ms; above 1 we are faster)", shapes, ours_ms, peers)


if __name__ == "__main__":
    main()
