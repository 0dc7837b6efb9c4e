"""Writes a transformers LlamaAttention layer (random weights, GQA 32/8, rope_type llama3) with an input and its
output, for `attentiongen-gpu llama-check <dir>` to load into DecoderAttentionModule and compare.

Usage (on a machine with torch, transformers >= 4.48 and safetensors):  python llama_check.py <dir>
Writes <dir>/config.json, weights.safetensors (HF names: q_proj.weight ...), input.safetensors (hidden float32
[1, N, hidden], position_ids int32 [1, N]) and output.safetensors (output float32 [1, N, hidden]).
"""
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaAttention, LlamaRotaryEmbedding


def main(out_dir: str, length: int = 256, start: int = 9000) -> None:
    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=2048,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=64,
        rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 8192},
        max_position_embeddings=131072,
        attention_bias=False,
    )
    config._attn_implementation = "eager"
    attention = LlamaAttention(config, layer_idx=0).eval()
    rotary = LlamaRotaryEmbedding(config=config)

    # Positions past original_max_position_embeddings, where llama3 scaling changes the low frequencies.
    hidden = torch.randn(1, length, config.hidden_size)
    position_ids = torch.arange(start, start + length).unsqueeze(0)
    causal = torch.full((length, length), float("-inf")).triu(1)[None, None]
    with torch.no_grad():
        position_embeddings = rotary(hidden, position_ids)
        output, _ = attention(hidden, position_embeddings=position_embeddings, attention_mask=causal)

    os.makedirs(out_dir, exist_ok=True)
    config.to_json_file(os.path.join(out_dir, "config.json"))
    save_file({k: v.contiguous() for k, v in attention.state_dict().items()}, os.path.join(out_dir, "weights.safetensors"))
    save_file({"hidden": hidden, "position_ids": position_ids.to(torch.int32)}, os.path.join(out_dir, "input.safetensors"))
    save_file({"output": output.contiguous()}, os.path.join(out_dir, "output.safetensors"))
    print(f"wrote {out_dir}: N = {length}, positions {start}..{start + length - 1}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "llama-check")
