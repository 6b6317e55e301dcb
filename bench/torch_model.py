"""PyTorch side of `prl bench --model/--shape` (bench/model.sh runs both): the same Qwen2/Llama model written
independently in torch (embedding, RMSNorm, RoPE rotate-half, grouped-query causal attention with optional
q/k/v bias, SwiGLU, tied or untied head), random weights N(0, 0.02^2) at the given shape, timing the same
two figures and printing the same JSON lines:
- train-step: zero grads, forward, mean next-token cross-entropy, backward, AdamW (weight decay 0); with
  --lora-rank R PEFT-style: every weight frozen, A (r, in) and B (out, r) on q,k,v,o,gate,up,down trained,
  y = W x + b + (alpha / r) B A x with alpha = 2r, B starting at zero. Median ms of --iters after one warmup.
- sample: --sample-batch random prompts of --prompt ids, --new-tokens new ids each at temperature 1 with a
  KV cache, median tokens/s of --iters after one warmup.
Each line carries the process's peak RSS so far (ru_maxrss). Timings do not depend on weight values, so
a --config (a model folder's config.json) is timed with random weights of its shape.

Run with /usr/bin/python3 (Debian python3-torch); threads: --threads (torch.set_num_threads) and the
OMP_NUM_THREADS / OPENBLAS_NUM_THREADS environment that bench/model.sh sets to the same number.
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn.functional as F

# src/cli/bench-model.ts BENCH_SHAPES: (hidden, intermediate, layers, heads, kv heads)
SHAPES = {"qwen2.5-0.5b": (896, 4864, 24, 14, 2), "qwen2.5-1.5b": (1536, 8960, 28, 12, 2)}
TARGETS = ["q", "k", "v", "o", "gate", "up", "down"]


def shape_config(name, layers):
    hidden, inter, n_layers, heads, kv = SHAPES[name]
    return dict(vocab_size=151936, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers or n_layers,
                num_attention_heads=heads, num_key_value_heads=kv, rms_norm_eps=1e-6, rope_theta=1e6,
                model_type="qwen2", tie_word_embeddings=True)


class Linear(torch.nn.Module):
    """y = x W^T (+ b) (+ scale x A^T B^T when a LoRA pair is attached)."""

    def __init__(self, out_dim, in_dim, bias):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(out_dim, in_dim) * 0.02)
        self.bias = torch.nn.Parameter(torch.zeros(out_dim)) if bias else None
        self.lora = None

    def add_lora(self, rank):
        out_dim, in_dim = self.weight.shape
        bound = 1 / math.sqrt(in_dim)  # PEFT: kaiming_uniform(a=sqrt(5)) on A, zeros on B
        self.lora_a = torch.nn.Parameter(torch.empty(rank, in_dim).uniform_(-bound, bound))
        self.lora_b = torch.nn.Parameter(torch.zeros(out_dim, rank))
        self.lora = 2.0  # alpha / r with alpha = 2r

    def forward(self, x):
        y = F.linear(x, self.weight, self.bias)
        if self.lora is not None:
            y = y + self.lora * F.linear(F.linear(x, self.lora_a), self.lora_b)
        return y


class Model(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.C, self.V = c["hidden_size"], c["vocab_size"]
        self.nh, self.nkv = c["num_attention_heads"], c["num_key_value_heads"]
        self.hd = c.get("head_dim") or self.C // self.nh
        self.eps = c["rms_norm_eps"]
        qkv_bias = c["model_type"] == "qwen2" or c.get("attention_bias", False)
        o_bias = c["model_type"] != "qwen2" and c.get("attention_bias", False)
        I = c["intermediate_size"]
        self.embed = torch.nn.Parameter(torch.randn(self.V, self.C) * 0.02)
        self.layers = torch.nn.ModuleList()
        for _ in range(c["num_hidden_layers"]):
            layer = torch.nn.Module()
            layer.ln1, layer.ln2 = torch.nn.Parameter(torch.ones(self.C)), torch.nn.Parameter(torch.ones(self.C))
            layer.q = Linear(self.nh * self.hd, self.C, qkv_bias)
            layer.k = Linear(self.nkv * self.hd, self.C, qkv_bias)
            layer.v = Linear(self.nkv * self.hd, self.C, qkv_bias)
            layer.o = Linear(self.C, self.nh * self.hd, o_bias)
            layer.gate, layer.up, layer.down = Linear(I, self.C, False), Linear(I, self.C, False), Linear(self.C, I, False)
            self.layers.append(layer)
        self.norm = torch.nn.Parameter(torch.ones(self.C))
        self.head = self.embed if c.get("tie_word_embeddings", False) else torch.nn.Parameter(torch.randn(self.V, self.C) * 0.02)
        self.theta = c["rope_theta"]

    def rmsnorm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def rope(self, x, pos):  # x (B, H, T, hd), pos (T,)
        inv_freq = self.theta ** (-torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd)
        angles = pos.double()[:, None] * inv_freq[None, :]
        cos, sin = torch.cat([angles.cos(), angles.cos()], -1).float(), torch.cat([angles.sin(), angles.sin()], -1).float()
        x1, x2 = x[..., : self.hd // 2], x[..., self.hd // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    def forward(self, tokens, cache=None, start=0):
        """tokens (B, T) at positions start..start+T-1; cache: per layer [k, v] of (B, nkv, maxT, hd). Logits (B, T, V)."""
        B, T = tokens.shape
        pos = torch.arange(start, start + T)
        x = self.embed[tokens]
        group = self.nh // self.nkv
        for li, layer in enumerate(self.layers):
            h = self.rmsnorm(x, layer.ln1)
            q = self.rope(layer.q(h).view(B, T, self.nh, self.hd).transpose(1, 2), pos)
            k = self.rope(layer.k(h).view(B, T, self.nkv, self.hd).transpose(1, 2), pos)
            v = layer.v(h).view(B, T, self.nkv, self.hd).transpose(1, 2)
            if cache is not None:
                kc, vc = cache[li]
                kc[:, :, start:start + T], vc[:, :, start:start + T] = k, v
                k, v = kc[:, :, :start + T], vc[:, :, :start + T]
            k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
            S = k.shape[2]
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)  # (B, nh, T, S)
            mask = torch.ones(T, S, dtype=torch.bool).tril(S - T)
            att = scores.masked_fill(~mask, float("-inf")).softmax(-1) @ v
            x = x + layer.o(att.transpose(1, 2).reshape(B, T, self.nh * self.hd))
            h = self.rmsnorm(x, layer.ln2)
            x = x + layer.down(F.silu(layer.gate(h)) * layer.up(h))
        return self.rmsnorm(x, self.norm) @ self.head.t()


def peak_rss_gib():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2)  # Linux: KiB


def time_train(model, args):
    if args.lora_rank > 0:
        for p in model.parameters():
            p.requires_grad_(False)
        for layer in model.layers:
            for t in TARGETS:
                getattr(layer, t).add_lora(args.lora_rank)
    trained = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trained, lr=1e-5, weight_decay=0.0)
    tokens = torch.randint(0, model.V, (args.batch, args.seq))
    targets = torch.roll(tokens, -1, 1)
    targets[:, -1] = -1
    times = []
    for i in range(args.iters + 1):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(tokens).view(-1, model.V), targets.view(-1), ignore_index=-1)
        loss.backward()
        opt.step()
        if i >= 1:
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), sum(p.numel() for p in trained)


@torch.no_grad()
def time_sample(model, args):
    prompts = torch.randint(0, model.V, (args.sample_batch, args.prompt))
    max_t = args.prompt + args.new_tokens - 1
    rates = []
    for i in range(args.iters + 1):
        torch.manual_seed(10 + i)
        start = time.perf_counter()
        cache = [[torch.zeros(args.sample_batch, model.nkv, max_t, model.hd) for _ in range(2)] for _ in model.layers]
        logits = model(prompts, cache, 0)[:, -1]
        for n in range(args.new_tokens):
            token = torch.multinomial(logits.softmax(-1), 1)  # (B, 1), temperature 1
            if n + 1 < args.new_tokens:  # the last token is never fed back, as in prl
                logits = model(token, cache, args.prompt + n)[:, -1]
        if i >= 1:
            rates.append(args.sample_batch * args.new_tokens / (time.perf_counter() - start))
    return statistics.median(rates)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--shape", choices=sorted(SHAPES))
    src.add_argument("--config", help="a model folder's config.json (random weights of its shape)")
    ap.add_argument("--layers", type=int, help="with --shape: keep the first n layers")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--sample-batch", type=int, default=8)
    ap.add_argument("--prompt", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--lora-rank", type=int, default=0)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--train-only", action="store_true")
    only.add_argument("--sample-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.config:
        with open(args.config) as f:
            config = json.load(f)
        label = args.config.rsplit("/config.json", 1)[0]
    else:
        config, label = shape_config(args.shape, args.layers), args.shape
    model = Model(config)
    meta = dict(model=label, layers=len(model.layers), hidden=model.C, vocab=model.V, lora_rank=args.lora_rank,
                threads=args.threads, provider=f"torch {torch.__version__}")
    if not args.sample_only:
        ms, n_trained = time_train(model, args)
        print(json.dumps(dict(name="train-step", ms=round(ms, 2), batch=args.batch, seq=args.seq,
                              peak_rss_gib=peak_rss_gib(), trainable_params=n_trained, **meta)), flush=True)
    if not args.train_only:
        for p in model.parameters():
            p.requires_grad_(False)
        tps = time_sample(model, args)
        print(json.dumps(dict(name="sample", tokens_per_s=round(tps, 2), sample_batch=args.sample_batch,
                              prompt=args.prompt, new_tokens=args.new_tokens, peak_rss_gib=peak_rss_gib(), **meta)), flush=True)


if __name__ == "__main__":
    main()
