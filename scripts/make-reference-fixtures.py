#!/usr/bin/python3
"""Reference fixtures for the engine: tiny random HF-format Llama/Qwen2 checkpoints and the per-token
log-probs an independent float64 PyTorch forward gives for them.

Run with the Debian torch (transformers is not needed, nor available):
    /usr/bin/python3 scripts/make-reference-fixtures.py
Writes test/fixtures/hf/<name>/{config.json, model.safetensors | shards + index, expected.json}.

The forward follows HF LlamaForCausalLM / Qwen2ForCausalLM semantics, written from the model
definition rather than imported: RMSNorm x * rsqrt(mean(x^2) + eps) * w, rotate_half RoPE with
inv_freq = 1 / theta^(2i/D), grouped-query attention by repeating each KV head over
num_attention_heads / num_key_value_heads query heads, q/k/v biases for qwen2, SwiGLU MLP
down(silu(gate(x)) * up(x)), final norm, lm_head (or the embedding when tied). Everything is float64
on the weights exactly as stored (after rounding to F32/F16/BF16), so the only error left is the
engine's.
"""
import json
import os
import struct
import sys

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'hf')

# name -> (HF config.json, storage dtype, options). Omitted fields test the HF defaults.
FIXTURES = {
    # Grouped-query attention, untied head, rope_theta and rms_norm_eps left to their defaults (10000, 1e-6).
    'llama-gqa': (
        dict(model_type='llama', vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=False),
        'F32', {}),
    # Tied embeddings, rope_theta 5e5, stored in BF16; the file also carries a copy of lm_head.weight.
    'llama-tied-bf16': (
        dict(model_type='llama', vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=4, rms_norm_eps=1e-5, rope_theta=500000.0,
             max_position_embeddings=64, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2),
        'BF16', {'write_tied_head': True}),
    # Qwen2: q/k/v biases, tied, one KV head for four query heads, rope_theta 1e6, stored in F16,
    # with an extra rotary_emb.inv_freq buffer that loaders must ignore.
    'qwen2-bias-f16': (
        dict(model_type='qwen2', vocab_size=40, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=1, rms_norm_eps=1e-6, rope_theta=1000000.0,
             max_position_embeddings=64, tie_word_embeddings=True, eos_token_id=[2, 3]),
        'F16', {'extra_inv_freq': True}),
    # head_dim (16) != hidden_size / num_attention_heads (8); sharded into two files with an index.
    'llama-headdim-sharded': (
        dict(model_type='llama', vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-5, rope_theta=10000.0,
             max_position_embeddings=64, tie_word_embeddings=False, attention_bias=False),
        'F32', {'shards': 2}),
}

ARCH = {'llama': 'LlamaForCausalLM', 'qwen2': 'Qwen2ForCausalLM'}
B, T = 2, 12


def hp(cfg):
    """Hyperparameters with HF defaults applied."""
    heads = cfg['num_attention_heads']
    return dict(
        V=cfg['vocab_size'], C=cfg['hidden_size'], F=cfg['intermediate_size'], L=cfg['num_hidden_layers'],
        H=heads, KV=cfg.get('num_key_value_heads', heads), D=cfg.get('head_dim', cfg['hidden_size'] // heads),
        eps=cfg.get('rms_norm_eps', 1e-6), theta=cfg.get('rope_theta', 10000.0),
        bias=cfg['model_type'] == 'qwen2' or cfg.get('attention_bias', False),
        tied=cfg.get('tie_word_embeddings', False))


def random_weights(p, gen):
    """Random weights in HF names and (out, in) layout, scaled so that log-probs are far from uniform."""
    def normal(*shape, std):
        return torch.randn(*shape, generator=gen, dtype=torch.float64) * std

    V, C, F, H, KV, D = p['V'], p['C'], p['F'], p['H'], p['KV'], p['D']
    # A tied embedding is also the head: a smaller scale keeps its logits moderate.
    w = {'model.embed_tokens.weight': normal(V, C, std=0.3 if p['tied'] else 1.0)}
    for i in range(p['L']):
        pre = f'model.layers.{i}'
        w[f'{pre}.input_layernorm.weight'] = 1 + normal(C, std=0.2)
        w[f'{pre}.self_attn.q_proj.weight'] = normal(H * D, C, std=C ** -0.5)
        w[f'{pre}.self_attn.k_proj.weight'] = normal(KV * D, C, std=C ** -0.5)
        w[f'{pre}.self_attn.v_proj.weight'] = normal(KV * D, C, std=C ** -0.5)
        if p['bias']:
            w[f'{pre}.self_attn.q_proj.bias'] = normal(H * D, std=0.5)
            w[f'{pre}.self_attn.k_proj.bias'] = normal(KV * D, std=0.5)
            w[f'{pre}.self_attn.v_proj.bias'] = normal(KV * D, std=0.5)
        w[f'{pre}.self_attn.o_proj.weight'] = normal(C, H * D, std=(H * D) ** -0.5)
        w[f'{pre}.post_attention_layernorm.weight'] = 1 + normal(C, std=0.2)
        w[f'{pre}.mlp.gate_proj.weight'] = normal(F, C, std=C ** -0.5)
        w[f'{pre}.mlp.up_proj.weight'] = normal(F, C, std=C ** -0.5)
        w[f'{pre}.mlp.down_proj.weight'] = normal(C, F, std=F ** -0.5)
    w['model.norm.weight'] = 1 + normal(C, std=0.2)
    if not p['tied']:
        w['lm_head.weight'] = normal(V, C, std=C ** -0.5)
    return w


TORCH_DTYPE = {'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16}


def stored_bytes(t, dtype):
    """Little-endian bytes of `t` rounded to `dtype` (numpy has no bfloat16, so reinterpret as int16)."""
    r = t.to(TORCH_DTYPE[dtype]).contiguous()
    if dtype == 'BF16':
        r = r.view(torch.int16)
    return r.numpy().tobytes()


def write_safetensors(path, tensors, dtype):
    """The safetensors layout written by hand: u64 LE header size, JSON header padded to 8, raw data."""
    header, offset, blobs = {'__metadata__': {'format': 'pt'}}, 0, []
    for name, t in tensors.items():
        data = stored_bytes(t, dtype)
        header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    raw = json.dumps(header, separators=(',', ':')).encode()
    raw += b' ' * (-len(raw) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(raw)))
        f.write(raw)
        for data in blobs:
            f.write(data)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x, theta):
    """x: (B, heads, T, D); HF's non-interleaved RoPE: pairs (i, i + D/2) share frequency theta^(-2i/D)."""
    D, T_ = x.shape[-1], x.shape[-2]
    inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    freqs = torch.arange(T_, dtype=torch.float64)[:, None] * inv_freq[None, :]  # (T, D/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (T, D)
    return x * emb.cos() + rotate_half(x) * emb.sin()


def forward_logprobs(p, w, tokens, targets):
    """Per-position log p(target | prefix) for tokens, targets: (B, T) int64."""
    Bn, Tn = tokens.shape
    H, KV, D = p['H'], p['KV'], p['D']
    x = w['model.embed_tokens.weight'][tokens]  # (B, T, C)
    causal = torch.ones(Tn, Tn, dtype=torch.bool).tril()
    for i in range(p['L']):
        pre = f'model.layers.{i}.'
        h = rms_norm(x, w[pre + 'input_layernorm.weight'], p['eps'])

        def proj(name):
            out = h @ w[pre + f'self_attn.{name}.weight'].T
            return out + w[pre + f'self_attn.{name}.bias'] if p['bias'] else out

        q = proj('q_proj').view(Bn, Tn, H, D).transpose(1, 2)  # (B, H, T, D)
        k = proj('k_proj').view(Bn, Tn, KV, D).transpose(1, 2)  # (B, KV, T, D)
        v = proj('v_proj').view(Bn, Tn, KV, D).transpose(1, 2)
        q, k = apply_rope(q, p['theta']), apply_rope(k, p['theta'])
        # repeat_kv: query head j reads KV head j // (H / KV).
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        scores = (q @ k.transpose(-1, -2)) * D ** -0.5  # (B, H, T, T)
        scores = scores.masked_fill(~causal, float('-inf'))
        att = torch.softmax(scores, dim=-1) @ v  # (B, H, T, D)
        x = x + att.transpose(1, 2).reshape(Bn, Tn, H * D) @ w[pre + 'self_attn.o_proj.weight'].T
        h = rms_norm(x, w[pre + 'post_attention_layernorm.weight'], p['eps'])
        gate = h @ w[pre + 'mlp.gate_proj.weight'].T
        up = h @ w[pre + 'mlp.up_proj.weight'].T
        x = x + (torch.nn.functional.silu(gate) * up) @ w[pre + 'mlp.down_proj.weight'].T
    x = rms_norm(x, w['model.norm.weight'], p['eps'])
    head = w['model.embed_tokens.weight'] if p['tied'] else w['lm_head.weight']
    logp = torch.log_softmax(x @ head.T, dim=-1)  # (B, T, V)
    return logp.gather(-1, targets[..., None])[..., 0]


def checksum(t):
    flat = t.reshape(-1)
    return {'sum': flat.sum().item(), 'absSum': flat.abs().sum().item(), 'first': flat[:4].tolist(),
            'last': flat[-1].item(), 'count': flat.numel()}


def make(name, cfg, dtype, opts, seed):
    gen = torch.Generator().manual_seed(seed)
    p = hp(cfg)
    weights = random_weights(p, gen)
    # The reference sees the weights exactly as the file stores them.
    stored = {k: v.to(TORCH_DTYPE[dtype]).to(torch.float64) for k, v in weights.items()}
    seqs = torch.randint(0, p['V'], (B, T + 1), generator=gen)
    tokens, targets = seqs[:, :-1], seqs[:, 1:]
    logprobs = forward_logprobs(p, stored, tokens, targets)
    # Self-check of the causal mask: a prefix's log-probs do not depend on later tokens.
    prefix = forward_logprobs(p, stored, tokens[:, :T // 2], targets[:, :T // 2])
    assert torch.allclose(prefix, logprobs[:, :T // 2], rtol=0, atol=1e-12), name

    out = os.path.join(ROOT, name)
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    torch_dtype = {'F32': 'float32', 'F16': 'float16', 'BF16': 'bfloat16'}[dtype]
    hf_config = dict(architectures=[ARCH[cfg['model_type']]], hidden_act='silu', torch_dtype=torch_dtype, **cfg)
    with open(os.path.join(out, 'config.json'), 'w') as f:
        json.dump(hf_config, f, indent=2)

    file_tensors = dict(weights)
    if opts.get('write_tied_head'):
        file_tensors['lm_head.weight'] = weights['model.embed_tokens.weight']
    if opts.get('extra_inv_freq'):
        file_tensors['model.layers.0.self_attn.rotary_emb.inv_freq'] = 1.0 / (p['theta'] ** (torch.arange(0, p['D'], 2, dtype=torch.float64) / p['D']))
    shards = opts.get('shards', 1)
    if shards == 1:
        write_safetensors(os.path.join(out, 'model.safetensors'), file_tensors, dtype)
    else:
        names = list(file_tensors)
        per = -(-len(names) // shards)
        weight_map = {}
        for s in range(shards):
            fname = f'model-{s + 1:05d}-of-{shards:05d}.safetensors'
            part = {n: file_tensors[n] for n in names[s * per:(s + 1) * per]}
            write_safetensors(os.path.join(out, fname), part, dtype)
            weight_map.update({n: fname for n in part})
        with open(os.path.join(out, 'model.safetensors.index.json'), 'w') as f:
            json.dump({'metadata': {'total_size': sum(t.numel() * 4 for t in file_tensors.values())}, 'weight_map': weight_map}, f, indent=2)

    expected = {
        'description': f'{name}: {dtype} weights; log-probs from an independent float64 PyTorch forward (scripts/make-reference-fixtures.py, seed {seed})',
        'dtype': dtype,
        'B': B, 'T': T,
        'tokens': tokens.tolist(),
        'targets': targets.tolist(),
        'logprobs': logprobs.tolist(),
        'checksums': {k: checksum(v) for k, v in stored.items()},
    }
    with open(os.path.join(out, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=1)
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f'{name}: {size} bytes, mean log-prob {logprobs.mean().item():.4f} (uniform {-torch.log(torch.tensor(float(p["V"]))).item():.4f})')


def main():
    assert sys.byteorder == 'little', 'safetensors is little-endian; run this on a little-endian host'
    for seed, (name, (cfg, dtype, opts)) in enumerate(FIXTURES.items()):
        make(name, cfg, dtype, opts, 1000 + seed)


if __name__ == '__main__':
    main()
