#!/usr/bin/env python3
"""Writes tests/Golden/*.safetensors: inputs, weights and the output of the REAL reference modules, run on the CPU.

tests/Golden/GoldenOutputTests.cs rebuilds each case with our modules and compares (CI needs no torch).
Each file holds `input.*` tensors, the module's state dict under `module.` (the names our modules Load) and `output`;
`__metadata__` records the case's configuration and the reference it came from.

Run (PyTorch 1.13 CPU, the Debian python3-torch used here; einops from its repository on the path):

    PYTHONPATH=/tmp/refs/einops /usr/bin/python3 bench/golden/make_golden.py \
        --local-attention /tmp/refs/local-attention --torchscale /tmp/refs/torchscale \
        --zeta /tmp/refs/zeta-flash2 [--out tests/Golden]

Made with (git archives of these commits; nothing of them is copied into this repository):
    lucidrains/local-attention  af58e53f81e5e1d87a7d50cb193d5c26f3c0e03f  (LocalAttention, rotary.py)
    microsoft/torchscale        4d1e0e82e5adf86dd424f1463192635b73fc8efc  (DilatedAttention, MultiheadAttention,
                                                                           XPOS, RelativePositionBias)
    kyegomez/zeta               0586d0a8f34f71e5077e424538229ca5304dd557  (FlashAttentionTwo: the last commit with
                                zeta/nn/attention/flash_attention2.py; it is gone from zeta's HEAD)
    arogozhnikov/einops         ccb89f27599f26d7140a1bd2703305309fe3a3bd
    torch 1.13.0a0 (Debian 1.13.1+dfsg-4), Python 3.11, float32 throughout, seed per case.

torchscale's DilatedAttention calls flash_attn_func (CUDA only); here it is replaced by exact attention in float64
returning (out, lse) in flash-attn's layout, which is what that kernel computes. Nothing else of the references is
changed; packages are imported from their files so that their heavy __init__ imports are not needed.
"""
import argparse
import importlib.util
import json
import os
import struct
import sys
import types
from types import SimpleNamespace

import torch

REFS = {
    "local": "lucidrains/local-attention@af58e53f81e5e1d87a7d50cb193d5c26f3c0e03f",
    "torchscale": "microsoft/torchscale@4d1e0e82e5adf86dd424f1463192635b73fc8efc",
    "zeta": "kyegomez/zeta@0586d0a8f34f71e5077e424538229ca5304dd557",
}


def package(name, path):
    """An empty package `name` whose submodules load from `path` (its __init__ is not run)."""
    module = types.ModuleType(name)
    module.__path__ = [path]
    sys.modules[name] = module


def load_file(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def save(path, tensors, metadata):
    """safetensors: u64 header length, JSON header (padded to 8 bytes), raw little-endian data without holes."""
    kinds = {torch.float32: ("F32", "<f4"), torch.int32: ("I32", "<i4"), torch.bool: ("BOOL", "?")}
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        dtype, np_dtype = kinds[t.dtype]
        data = t.numpy().astype(np_dtype).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def exact_flash_attn_func(q, k, v, dropout=0.0, bias=None, softmax_scale=None, is_causal=False):
    """flash_attn_func's forward on the CPU: q, k, v [b, l, h, d] -> out [b, l, h, d], lse [b, h, l]."""
    assert dropout == 0.0 and bias is None
    qd, kd, vd = (t.double().transpose(1, 2) for t in (q, k, v))
    scale = softmax_scale if softmax_scale is not None else q.shape[-1] ** -0.5
    s = qd @ kd.transpose(-1, -2) * scale
    if is_causal:
        s = s.masked_fill(torch.ones(s.shape[-2:], dtype=torch.bool).triu(1), float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    out = torch.softmax(s, dim=-1) @ vd
    return out.transpose(1, 2).to(q.dtype), lse.to(q.dtype)


def keep_mask(gen, b, n, stride):
    """A random key mask that keeps position 0 and every multiple of `stride`, so no query loses all its keys."""
    m = torch.rand(b, n, generator=gen) < 0.7
    m[:, ::stride] = True
    return m


def local_cases(root, out):
    package("local_attention", os.path.join(root, "local_attention"))
    LocalAttention = load_file("local_attention.local_attention", os.path.join(root, "local_attention", "local_attention.py")).LocalAttention
    E, EV = 6, 4   # E not a power of two; values narrower than keys
    cases = {
        # name: (constructor kwargs, N, extras)
        "local_plain": (dict(window_size=4, use_rotary_pos_emb=False), 16, {}),
        "local_causal": (dict(window_size=4, causal=True, look_backward=2), 16, {}),
        "local_lookaround": (dict(window_size=4, look_backward=2, look_forward=1, use_rotary_pos_emb=False, scale=0.3), 20, {}),
        "local_exact": (dict(window_size=4, look_backward=2, look_forward=1, exact_windowsize=True, use_rotary_pos_emb=False), 16, {}),
        "local_exact_causal": (dict(window_size=4, causal=True, look_backward=2, exact_windowsize=True, use_rotary_pos_emb=False), 16, {}),
        "local_shared_qk": (dict(window_size=4, causal=True, shared_qk=True, use_rotary_pos_emb=False), 16, {}),
        "local_rotary": (dict(window_size=4, dim=E), 16, {}),
        "local_rotary_xpos_causal": (dict(window_size=4, causal=True, look_backward=2, dim=E, use_xpos=True), 16, {}),
        "local_rotary_xpos": (dict(window_size=6, dim=E, use_xpos=True, xpos_scale_base=5.0), 18, {}),
        "local_mask_bias": (dict(window_size=4, dim=E), 16, {"mask": True, "bias": True}),
        "local_autopad_mask": (dict(window_size=4, autopad=True, dim=E), 14, {"mask": True}),
        "local_autopad_causal": (dict(window_size=4, causal=True, autopad=True, dim=E, exact_windowsize=True), 14, {}),
        "local_causal_lookback0_3d": (dict(window_size=4, causal=True, look_backward=0, use_rotary_pos_emb=False), 16, {"mask": True, "3d": True}),
        "local_xpos_window_override": (dict(window_size=4, dim=E, use_xpos=True, exact_windowsize=True), 16, {"window_size": 8}),
        "local_everything": (dict(window_size=4, causal=True, look_backward=2, shared_qk=True, dim=E, autopad=True, exact_windowsize=True, use_xpos=True), 14, {"mask": True}),
        # Documented difference (SPEC §4): without a mask the reference lets the zero-padded tail keys in; we mask them.
        "local_autopad_nomask": (dict(window_size=4, autopad=True, use_rotary_pos_emb=False), 14, {}),
    }
    for seed, (name, (kwargs, n, extras)) in enumerate(cases.items()):
        gen = torch.Generator().manual_seed(1000 + seed)
        module = LocalAttention(**kwargs).eval()
        B, H, ws = 2, 2, kwargs["window_size"]
        lead = (B * H,) if extras.get("3d") else (B, H)   # [B, N, E] as well as [B, H, N, E]
        q = torch.randn(*lead, n, E, generator=gen)
        k = q if kwargs.get("shared_qk") else torch.randn(*lead, n, E, generator=gen)
        v = torch.randn(*lead, n, EV, generator=gen)
        inputs = {"input.q": q, "input.k": k, "input.v": v}
        call = {}
        if extras.get("mask"):
            call["mask"] = inputs["input.mask"] = keep_mask(gen, B, n, ws)   # [B, N]: one row per H packed rows
        if extras.get("bias"):
            span = (module.look_backward + 1 + module.look_forward) * ws
            call["attn_bias"] = inputs["input.attn_bias"] = torch.randn(H, ws, span, generator=gen)
        if "window_size" in extras:
            call["window_size"] = extras["window_size"]
        with torch.no_grad():
            result = module(q, k, v, **call)
        save(os.path.join(out, name + ".safetensors"), {**inputs, "output": result},
             {"reference": REFS["local"], "module": "LocalAttention", "config": json.dumps(kwargs), "call": json.dumps(extras)})
        print(name, tuple(result.shape))


def torchscale_cases(root, out):
    package("torchscale", os.path.join(root, "torchscale"))
    package("torchscale.component", os.path.join(root, "torchscale", "component"))
    mha = load_file("torchscale.component.multihead_attention", os.path.join(root, "torchscale", "component", "multihead_attention.py"))
    mha.flash_attn_func = exact_flash_attn_func
    dilated = load_file("torchscale.component.dilated_attention", os.path.join(root, "torchscale", "component", "dilated_attention.py"))
    rpb = load_file("torchscale.component.relative_position_bias", os.path.join(root, "torchscale", "component", "relative_position_bias.py"))

    def args(**kw):
        base = dict(multiway=False, layernorm_eps=1e-5, xpos_rel_pos=False, xpos_scale_base=512, flash_attention=True, seq_parallel=False)
        return SimpleNamespace(**{**base, **kw})

    cases = {
        # name: (d_model, heads, segments, rates, causal, xpos, N)
        "dilated_single": (12, 2, [8], [2], False, False, 24),
        "dilated_single_causal_tail": (16, 4, [8], [2], True, False, 20),
        "dilated_mixture": (18, 3, [4, 8, 16], [1, 2, 4], False, False, 16),
        "dilated_mixture_causal_xpos_tail": (12, 2, [4, 8], [1, 2], True, True, 14),
        "dilated_segment_over_n_xpos": (12, 2, [32], [2], False, True, 20),
        "dilated_mixture_capped_causal": (18, 3, [8, 32], [2, 4], True, False, 20),
        # Documented difference (SPEC §2): torchscale's zero keys padding the tail segment take part; we mask them.
        "dilated_tail_xpos": (12, 2, [8], [1], False, True, 20),
        # The same for the segment capped at N = 21: dense_to_sparse pads it to 22 for rate 2, a zero key for group 1.
        "dilated_capped_odd": (12, 2, [32], [2], False, False, 21),
    }
    for seed, (name, (d, h, segs, rates, causal, xpos, n)) in enumerate(cases.items()):
        torch.manual_seed(2000 + seed)
        a = args(segment_length=segs, dilated_ratio=rates, xpos_rel_pos=xpos)
        module = dilated.DilatedAttention(a, d, h, dropout=0.0, self_attention=True).eval()
        x = torch.randn(2, n, d)
        with torch.no_grad():
            result, _ = module(x, x, x, is_causal=causal)
        weights = {"module." + key: value for key, value in module.state_dict().items()}
        config = dict(d_model=d, num_heads=h, segment_length=segs, dilated_ratio=rates, is_causal=causal, xpos_rel_pos=xpos)
        save(os.path.join(out, name + ".safetensors"), {"input.x": x, **weights, "output": result},
             {"reference": REFS["torchscale"], "module": "DilatedAttention (flash_attn_func: exact float64)", "config": json.dumps(config)})
        print(name, tuple(result.shape))

    # A dilated layer with one segment covering the sequence and rate 1 is full attention: torchscale's
    # MultiheadAttention (its non-flash path, the one that takes rel_pos) with its RelativePositionBias.
    for seed, (name, causal) in enumerate({"dilated_relpos_full": False, "dilated_relpos_full_causal": True}.items()):
        torch.manual_seed(2100 + seed)
        d, h, n = 16, 4, 12
        module = mha.MultiheadAttention(args(flash_attention=False), d, h, dropout=0.0, self_attention=True).eval()
        bias = rpb.RelativePositionBias(bidirectional=not causal, num_buckets=32, max_distance=128, n_heads=h).eval()
        x = torch.randn(2, n, d)
        mask = torch.full((n, n), float("-inf")).triu(1) if causal else None
        with torch.no_grad():
            result, _ = module(x, x, x, attn_mask=mask, rel_pos=bias(2, n, n))
        weights = {"module." + key: value for key, value in module.state_dict().items()}
        weights["module.relative_position.relative_attention_bias.weight"] = bias.relative_attention_bias.weight
        config = dict(d_model=d, num_heads=h, causal_attn_mask=causal, relative_position_bias=dict(bidirectional=not causal, num_buckets=32, max_distance=128))
        save(os.path.join(out, name + ".safetensors"), {"input.x": x, **weights, "output": result},
             {"reference": REFS["torchscale"], "module": "MultiheadAttention + RelativePositionBias", "config": json.dumps(config)})
        print(name, tuple(result.shape))


def zeta_cases(root, out):
    for name in ("zeta", "zeta.nn", "zeta.nn.attention"):
        package(name, os.path.join(root, *name.split(".")))
    load_file("zeta.nn.attention.base", os.path.join(root, "zeta", "nn", "attention", "base.py"))
    FlashAttentionTwo = load_file("zeta.nn.attention.flash_attention2", os.path.join(root, "zeta", "nn", "attention", "flash_attention2.py")).FlashAttentionTwo
    dim, heads, dim_head, n = 20, 3, 6, 13
    cases = {
        # name: (causal, context length M or None, mask kind)
        "flash_self": (False, None, None),
        "flash_causal": (True, None, None),
        "flash_context_mask": (False, 9, "keep"),       # batch 1 keeps no key: its rows are 0 in both
        "flash_causal_context_shorter": (True, 9, None),  # M < N: the reference is top-left too
        "flash_causal_mask": (True, None, "keep"),
        # Documented difference (SPEC §1): with M > N the reference shifts causal queries by M - N; we are top-left.
        "flash_causal_context_longer": (True, 17, None),
        # Not documented as a difference: a causal row whose past keys are all padding (batch 1, row 0). The reference
        # averages the unmasked future keys (it zeroes padding but not causal-masked weights); SPEC: such a row is 0.
        "flash_causal_mask_empty_row": (True, None, "first_masked"),
    }
    for seed, (name, (causal, m, mask_kind)) in enumerate(cases.items()):
        torch.manual_seed(3000 + seed)
        # Small buckets so that the reference's tiled online softmax runs over several tiles.
        module = FlashAttentionTwo(dim=dim, heads=heads, dim_head=dim_head, causal=causal, q_bucket_size=4, k_bucket_size=8).eval()
        x = torch.randn(2, n, dim)
        inputs = {"input.x": x}
        call = {}
        keys = m if m is not None else n
        if m is not None:
            call["context"] = inputs["input.context"] = torch.randn(2, m, dim)
        if mask_kind is not None:
            mask = torch.rand(2, keys) < 0.7
            mask[:, 0] = True
            if mask_kind == "keep" and m is not None:
                mask[1] = False
            if mask_kind == "first_masked":
                mask[1, 0] = False
                mask[1, 1:3] = True
            call["mask"] = inputs["input.mask"] = mask
        with torch.no_grad():
            result = module(x, **call)
        weights = {"module." + key: value for key, value in module.state_dict().items()}
        config = dict(dim=dim, heads=heads, dim_head=dim_head, causal=causal, q_bucket_size=4, k_bucket_size=8, context_length=m, mask=mask_kind)
        save(os.path.join(out, name + ".safetensors"), {**inputs, **weights, "output": result},
             {"reference": REFS["zeta"], "module": "FlashAttentionTwo", "config": json.dumps(config)})
        print(name, tuple(result.shape))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local-attention", required=True, help="checkout of lucidrains/local-attention")
    parser.add_argument("--torchscale", required=True, help="checkout of microsoft/torchscale")
    parser.add_argument("--zeta", required=True, help="checkout of kyegomez/zeta at a commit with flash_attention2.py")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests", "Golden"))
    a = parser.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)   # the same reduction order on every machine
    local_cases(a.local_attention, a.out)
    torchscale_cases(a.torchscale, a.out)
    zeta_cases(a.zeta, a.out)


if __name__ == "__main__":
    main()
