#!/usr/bin/env python3
"""Writes tests/Golden/torch/*.safetensors: PyTorch's own scaled_dot_product_attention and flex_attention (with
create_block_mask / BlockMask.from_kv_blocks) on fixed random inputs, for tests/Golden/TorchGoldenTests.cs.

Needs PyTorch >= 2.5 (flex_attention); made on the device with PyTorch 2.11 (each file's `__metadata__` names the version):

    python3 bench/golden/make_golden_torch.py [--compiled] --out $OUT/torch

Inputs are float32; the reference output is computed in float64 on the CPU from those inputs (SDPA's math backend,
flex_attention's eager implementation) and stored rounded to float32. With --compiled, on a machine with a GPU, SDPA
also runs there (fused kernels, `max_cpu_cuda`) and each flex case runs compiled (Triton) in float32 (with --compiled; it needs head dims of at least 16) on the same inputs:
`max_eager_compiled` says how far apart PyTorch's two paths are, and where they disagree beyond float32 rounding the
compiled answer is stored too (`output_compiled`, `lse_compiled`). The one case where they do: eager flex_attention
applies the mask mod to every pair and ignores the BlockMask's blocks; compiled skips the blocks the mask leaves out and
skips the mask mod in full blocks (the behaviour SPEC §5 pins). Each BlockMask is stored with
its index tensors, sparsity() and str(), which the C# BlockMask must reproduce.
Mods are the ones AttentionGen ships (MaskMods, ScoreMods) or one-liners the tests restate in C#.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention

sys.path.insert(0, os.path.dirname(__file__))
from make_golden import save  # noqa: E402  (one writer of the format)

CUDA = False   # main() sets it: --compiled on a machine with a GPU
compiled_flex = None


def randn(gen, *shape, scale=1.0):
    return torch.randn(*shape, generator=gen) * scale


def sdpa_cases(out):
    # name: (B, Hq, Hkv, L, S, E, Ev, kwargs builder); a builder returns (call kwargs, extra stored inputs)
    def bool_mask_with_dead_row(gen, B, L, S):
        m = torch.rand(B, 1, L, S, generator=gen) < 0.6
        m[:, :, 3, :] = False   # row 3 sees no key
        return m

    def float_mask(gen, L, S):
        m = torch.randn(L, S, generator=gen)
        m[torch.rand(L, S, generator=gen) < 0.3] = float("-inf")
        m[5, :] = float("-inf")   # row 5 sees no key
        return m

    cases = {
        "sdpa_plain": (2, 3, 3, 13, 17, 12, 10, lambda g: ({}, {})),
        "sdpa_causal": (2, 3, 3, 19, 19, 8, 8, lambda g: ({"is_causal": True}, {})),
        "sdpa_causal_short_queries": (1, 2, 2, 5, 17, 8, 6, lambda g: ({"is_causal": True}, {})),
        "sdpa_causal_long_queries": (1, 2, 2, 17, 5, 8, 6, lambda g: ({"is_causal": True}, {})),
        "sdpa_bool_mask_dead_row": (2, 2, 2, 11, 23, 8, 8, lambda g: (lambda m: ({"attn_mask": m}, {"input.attn_mask": m}))(bool_mask_with_dead_row(g, 2, 11, 23))),
        "sdpa_float_mask_dead_row": (2, 2, 2, 11, 23, 8, 8, lambda g: (lambda m: ({"attn_mask": m}, {"input.attn_mask": m}))(float_mask(g, 11, 23))),
        "sdpa_key_padding": (2, 2, 2, 9, 21, 8, 8, lambda g: (lambda m: ({"attn_mask": m}, {"input.attn_mask": m}))(torch.rand(2, 1, 1, 21, generator=g) < 0.5)),
        "sdpa_scale": (1, 2, 2, 10, 14, 8, 8, lambda g: ({"scale": 0.3}, {})),
        "sdpa_gqa": (2, 6, 2, 12, 15, 8, 8, lambda g: ({"enable_gqa": True, "is_causal": True}, {})),
        "sdpa_extreme": (1, 2, 2, 12, 16, 8, 8, lambda g: ({"is_causal": True}, {})),
    }
    for seed, (name, case) in enumerate(cases.items()):
        guarded(name, sdpa_case, out, seed, name, *case)


def sdpa_case(out, seed, name, B, Hq, Hkv, L, S, E, Ev, build):
    gen = torch.Generator().manual_seed(2000 + seed)
    scale = 40.0 if name == "sdpa_extreme" else 1.0   # scores in the thousands: overflow if not max-subtracted
    q, k, v = randn(gen, B, Hq, L, E, scale=scale), randn(gen, B, Hkv, S, E, scale=scale), randn(gen, B, Hkv, S, Ev)
    call, stored = build(gen)
    dcall = {key: (val.double() if torch.is_tensor(val) and val.is_floating_point() else val) for key, val in call.items()}
    ref = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), **dcall)
    meta = {"reference": f"torch.nn.functional.scaled_dot_product_attention (math backend, float64, CPU), torch {torch.__version__}",
            "config": json.dumps({key: val for key, val in call.items() if not torch.is_tensor(val)})}
    tensors = {"input.q": q, "input.k": k, "input.v": v, **stored, "output": ref.float()}
    if CUDA:
        # The fused CUDA kernels' answer on the same inputs (float32: efficient or flash-free math on the GPU).
        got = F.scaled_dot_product_attention(q.cuda(), k.cuda(), v.cuda(), **{key: (val.cuda() if torch.is_tensor(val) else val) for key, val in call.items()})
        meta["max_cpu_cuda"] = str(keep_if_apart(tensors, "output_cuda", got, ref))
    save(os.path.join(out, name + ".safetensors"), tensors, meta)
    print(name, tuple(ref.shape), "nan rows:", int(ref.isnan().any(-1).sum()), meta.get("max_cpu_cuda", ""))


# mask mods (as MaskMods in C#) and score mods (as ScoreMods, or restated in the test)
def causal(b, h, q, kv):
    return kv <= q


def sliding_window(window):
    return lambda b, h, q, kv: (kv <= q) & (q - kv < window)


def prefix_lm(prefix):
    return lambda b, h, q, kv: (kv < prefix) | (kv <= q)


def same_document(ids):
    return lambda b, h, q, kv: ids[q] == ids[kv]


def dead_rows(b, h, q, kv):
    return (q % 7 != 3) & (kv <= q + 5)   # rows 3, 10, 17, ... see no key


def alibi(heads):
    return lambda score, b, h, q, kv: score + torch.exp2(-8.0 * (h + 1) / heads) * (kv - q)


def softcap(cap):
    return lambda score, b, h, q, kv: cap * torch.tanh(score / cap)


def relative_bias(bias, max_distance):
    return lambda score, b, h, q, kv: score + bias[h, torch.clamp(kv - q, -max_distance, max_distance) + max_distance]


def minus_inf_rows(score, b, h, q, kv):
    return torch.where(q % 5 == 2, float("-inf"), score)   # rows 2, 7, 12, ... lose every key to the score mod


def batch_head_mask(b, h, q, kv):
    return (kv <= q + 8 * h) & ((q + kv + b) % 3 != 0)


def keep_if_apart(tensors, name, got, ref):
    """The largest |got - ref| (NaN as inf); got is stored under `name` only where it is more than float32 rounding
    apart (1e-5 of the reference's scale), so that files hold the second answer only where PyTorch's paths disagree."""
    g, r = got.double().cpu(), ref.cpu()
    diff = torch.where(g == r, 0.0, (g - r).abs()).nan_to_num(nan=float("inf")).max().item()   # equal infinities agree
    if diff > 1e-5 * max(1.0, ref.abs().nan_to_num(nan=0, posinf=0, neginf=0).max().item()):
        tensors[name] = got.float().cpu()
    return diff


def guarded(name, fn, *args):
    """One case; a failure is printed and the others still run."""
    try:
        fn(*args)
    except Exception as e:   # noqa: BLE001
        print(name, "FAILED:", type(e).__name__, str(e).splitlines()[0] if str(e) else "")


def compiled_call(q, k, v, block_mask, **kwargs):
    """flex_attention compiled, on the GPU; block sizes below the kernel's tiles are passed as its tiles."""
    try:
        return flex_call(compiled_flex, q, k, v, block_mask=block_mask, **kwargs)
    except Exception:
        if block_mask is None:
            raise
        bq, bk = block_mask.BLOCK_SIZE
        return flex_call(compiled_flex, q, k, v, block_mask=block_mask, kernel_options={"BLOCK_M": bq, "BLOCK_N": bk}, **kwargs)


def flex_call(fn, q, k, v, **kwargs):
    try:
        return fn(q, k, v, return_lse=True, **kwargs)
    except TypeError:   # newer releases: return_aux
        from torch.nn.attention.flex_attention import AuxRequest
        out, aux = fn(q, k, v, return_aux=AuxRequest(lse=True), **kwargs)
        return out, aux.lse


def block_mask_tensors(bm, prefix="block_mask."):
    t = {}
    for name in ("kv_num_blocks", "kv_indices", "full_kv_num_blocks", "full_kv_indices", "q_num_blocks", "q_indices", "full_q_num_blocks", "full_q_indices"):
        value = getattr(bm, name, None)
        if value is not None:
            t[prefix + name] = value.to(torch.int32).cpu()
    t[prefix + "dense"] = bm.to_dense().to(torch.int32).cpu()
    return t


def flex_cases(out):
    gen0 = torch.Generator().manual_seed(7)
    doc_ids = torch.repeat_interleave(torch.arange(6), torch.tensor([40, 1, 77, 30, 52, 50]))   # 250 tokens
    rel_bias = torch.randn(2, 2 * 16 + 1, generator=gen0)
    # name: (B, Hq, Hkv, L, S, E, Ev, mask_mod, score_mod, mask kwargs, call kwargs)
    cases = {
        "flex_plain": (2, 2, 2, 200, 300, 16, 24, None, None, None, {}),
        "flex_causal": (1, 2, 2, 300, 300, 16, 16, causal, None, {}, {}),
        "flex_causal_short_queries": (1, 2, 2, 100, 300, 16, 16, causal, None, {}, {}),
        "flex_sliding_window": (1, 2, 2, 257, 257, 16, 16, sliding_window(64), None, {"BLOCK_SIZE": 64}, {}),
        "flex_prefix_lm": (2, 2, 2, 150, 150, 16, 16, prefix_lm(37), None, {"BLOCK_SIZE": 32}, {}),
        "flex_document": (1, 2, 2, 250, 250, 16, 16, same_document(doc_ids), None, {"BLOCK_SIZE": 64}, {}),
        "flex_dead_rows": (1, 2, 2, 130, 140, 16, 16, dead_rows, None, {"BLOCK_SIZE": 32}, {}),
        "flex_alibi_causal": (1, 4, 4, 160, 160, 16, 16, causal, alibi(4), {"BLOCK_SIZE": 64}, {}),
        "flex_softcap": (2, 2, 2, 96, 130, 16, 16, None, softcap(2.0), None, {}),
        "flex_relative_bias": (1, 2, 2, 90, 90, 16, 16, None, relative_bias(rel_bias, 16), None, {}),
        "flex_minus_inf_rows": (1, 2, 2, 64, 80, 16, 16, None, minus_inf_rows, None, {}),
        "flex_gqa_causal": (2, 4, 2, 140, 140, 16, 16, causal, None, {"BLOCK_SIZE": 64}, {"enable_gqa": True}),
        "flex_batch_head_mask": (2, 3, 3, 100, 120, 16, 16, batch_head_mask, None, {"B": 2, "H": 3, "BLOCK_SIZE": (32, 64)}, {}),
        "flex_scale_softcap_causal": (1, 2, 2, 77, 77, 16, 16, causal, softcap(3.0), {"BLOCK_SIZE": 32}, {"scale": 0.25}),
        "flex_extreme_causal": (1, 2, 2, 128, 128, 16, 16, causal, None, {"BLOCK_SIZE": 32}, {}),
    }
    for seed, (name, case) in enumerate(cases.items()):
        guarded(name, flex_case, out, seed, name, {"rel_bias": rel_bias, "doc_ids": doc_ids}, *case)
    guarded("flex_from_kv_blocks", from_kv_blocks_case, out)


def flex_case(out, seed, name, captures, B, Hq, Hkv, L, S, E, Ev, mask_mod, score_mod, mask_kwargs, call):
    gen = torch.Generator().manual_seed(3000 + seed)
    s = 40.0 if name == "flex_extreme_causal" else (3.0 if "softcap" in name else 1.0)
    q, k, v = randn(gen, B, Hq, L, E, scale=s), randn(gen, B, Hkv, S, E, scale=s), randn(gen, B, Hkv, S, Ev)
    tensors = {"input.q": q, "input.k": k, "input.v": v}
    if name == "flex_relative_bias":
        tensors["input.rel_bias"] = captures["rel_bias"]   # [H, 2 * 16 + 1], as ScoreMods.RelativeBias reads it
    meta = {"reference": f"torch.nn.attention.flex_attention (eager, float64, CPU), torch {torch.__version__}",
            "config": json.dumps({"mask": mask_kwargs is not None, **{key: val for key, val in (mask_kwargs or {}).items()}, **call})}
    bm = None
    if mask_kwargs is not None:
        mk = dict(mask_kwargs)
        bm = create_block_mask(mask_mod, mk.pop("B", None), mk.pop("H", None), L, S, device="cpu", **mk)
        tensors.update(block_mask_tensors(bm))
        meta["sparsity"] = repr(bm.sparsity())
        meta["str"] = str(bm)
    ref, lse = flex_call(flex_attention, q.double(), k.double(), v.double(), score_mod=score_mod, block_mask=bm, **call)
    tensors["output"], tensors["lse"] = ref.float(), lse.float()
    if CUDA:
        # Mods that index a captured tensor read a copy on the GPU (compiled code indexes on one device).
        if name == "flex_document":
            mask_mod = same_document(captures["doc_ids"].cuda())
        bmc = None if bm is None else create_block_mask(mask_mod, (mask_kwargs or {}).get("B"), (mask_kwargs or {}).get("H"), L, S, device="cuda",
                                                       **{key: val for key, val in mask_kwargs.items() if key not in ("B", "H")})
        sm = score_mod
        if score_mod is not None and name == "flex_relative_bias":
            sm = relative_bias(captures["rel_bias"].cuda(), 16)
        got, got_lse = compiled_call(q.cuda(), k.cuda(), v.cuda(), bmc, score_mod=sm, **call)
        meta["max_eager_compiled"] = str(keep_if_apart(tensors, "output_compiled", got, ref))
        keep_if_apart(tensors, "lse_compiled", got_lse, lse)
    save(os.path.join(out, name + ".safetensors"), tensors, meta)
    print(name, tuple(ref.shape), "nan rows:", int(ref.isnan().any(-1).sum()), "-inf lse rows:", int(torch.isneginf(lse).sum()),
          meta.get("sparsity", ""), meta.get("max_eager_compiled", ""))

def from_kv_blocks_case(out):
    """BlockMask.from_kv_blocks: full blocks are computed without the mask mod, even where it says no."""
    gen = torch.Generator().manual_seed(3999)
    L = S = 96
    q, k, v = randn(gen, 1, 2, L, 16), randn(gen, 1, 2, S, 16), randn(gen, 1, 2, S, 16)
    # q block 0: keys 0-31 partial, 32-63 full (the causal mask mod would refuse all of them); q block 1: 0-63 partial;
    # q block 2: only 64-95 (the blocks left out are skipped though causal allows them).
    kv_num = torch.tensor([[[1, 2, 1]]], dtype=torch.int32).expand(1, 2, 3).contiguous()
    kv_idx = torch.tensor([[[[0, 1, 2], [1, 0, 2], [2, 0, 1]]]], dtype=torch.int32).expand(1, 2, 3, 3).contiguous()
    full_num = torch.tensor([[[1, 0, 0]]], dtype=torch.int32).expand(1, 2, 3).contiguous()
    full_idx = torch.tensor([[[[1, 0, 2], [0, 1, 2], [0, 1, 2]]]], dtype=torch.int32).expand(1, 2, 3, 3).contiguous()
    bm = BlockMask.from_kv_blocks(kv_num, kv_idx, full_num, full_idx, BLOCK_SIZE=32, mask_mod=causal)
    ref, lse = flex_call(flex_attention, q.double(), k.double(), v.double(), block_mask=bm)
    tensors = {"input.q": q, "input.k": k, "input.v": v, "input.kv_num_blocks": kv_num, "input.kv_indices": kv_idx,
               "input.full_kv_num_blocks": full_num, "input.full_kv_indices": full_idx, "output": ref.float(), "lse": lse.float(),
               **block_mask_tensors(bm)}
    meta = {"reference": f"BlockMask.from_kv_blocks + flex_attention (eager, float64, CPU), torch {torch.__version__}",
            "config": json.dumps({"BLOCK_SIZE": 32, "mask_mod": "causal"}), "sparsity": repr(bm.sparsity()), "str": str(bm)}
    if CUDA:
        bmc = BlockMask.from_kv_blocks(kv_num.cuda(), kv_idx.cuda(), full_num.cuda(), full_idx.cuda(), BLOCK_SIZE=32, mask_mod=causal)
        got, got_lse = compiled_call(q.cuda(), k.cuda(), v.cuda(), bmc)
        meta["max_eager_compiled"] = str(keep_if_apart(tensors, "output_compiled", got, ref))
        keep_if_apart(tensors, "lse_compiled", got_lse, lse)
    save(os.path.join(out, "flex_from_kv_blocks.safetensors"), tensors, meta)
    print("flex_from_kv_blocks", meta.get("max_eager_compiled", ""), meta["sparsity"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests", "Golden", "torch"))
    parser.add_argument("--only", choices=["sdpa", "flex"])
    parser.add_argument("--compiled", action="store_true", help="also run SDPA on the GPU and flex_attention compiled there (minutes)")
    a = parser.parse_args()
    global CUDA, compiled_flex
    CUDA = a.compiled and torch.cuda.is_available()
    if CUDA:
        # Every case has its own mods: past dynamo's recompile limit flex_attention would silently run eager.
        for knob in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit", "accumulated_cache_size_limit"):
            if hasattr(torch._dynamo.config, knob):
                setattr(torch._dynamo.config, knob, 256)
        compiled_flex = torch.compile(flex_attention, dynamic=False)
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)
    print("torch", torch.__version__, "cuda" if CUDA else "cpu only")
    if a.only != "flex":
        sdpa_cases(a.out)
    if a.only != "sdpa":
        flex_cases(a.out)


if __name__ == "__main__":
    main()
