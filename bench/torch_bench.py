"""PyTorch baseline for `prl bench`: the same bench-preset Llama written independently in torch
(embedding, RMSNorm, RoPE rotate-half, causal attention, SwiGLU, untied head), timing the same two
figures. Prints one JSON line per figure, the best of torch.set_num_threads(1) and (2).

Run with /usr/bin/python3 (Debian python3-torch)."""
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F

# PRESETS.bench in src/engine/config.ts
V, C, I, L, NH, NKV, HD, MAXPOS, EPS, THETA = 32, 128, 384, 2, 4, 4, 32, 256, 1e-5, 10000.0
TRAIN_B, TRAIN_T = 32, 64
SAMPLE_B, PROMPT_LEN, NEW_TOKENS = 32, 8, 64
ITERS = 10


class Llama(torch.nn.Module):
    def __init__(self):
        super().__init__()
        lin = lambda o, i: torch.nn.Parameter(torch.randn(o, i) * 0.02)
        self.embed = torch.nn.Parameter(torch.randn(V, C) * 0.02)
        self.layers = torch.nn.ModuleList()
        for _ in range(L):
            layer = torch.nn.Module()
            layer.ln1 = torch.nn.Parameter(torch.ones(C))
            layer.wq, layer.wk, layer.wv = lin(NH * HD, C), lin(NKV * HD, C), lin(NKV * HD, C)
            layer.wo = lin(C, NH * HD)
            layer.ln2 = torch.nn.Parameter(torch.ones(C))
            layer.wg, layer.wu, layer.wd = lin(I, C), lin(I, C), lin(C, I)
            self.layers.append(layer)
        self.norm = torch.nn.Parameter(torch.ones(C))
        self.head = lin(V, C)
        inv_freq = THETA ** (-torch.arange(0, HD, 2, dtype=torch.float64) / HD)
        angles = torch.arange(MAXPOS, dtype=torch.float64)[:, None] * inv_freq[None, :]
        self.cos = torch.cat([angles.cos(), angles.cos()], -1).float()  # (MAXPOS, HD)
        self.sin = torch.cat([angles.sin(), angles.sin()], -1).float()

    @staticmethod
    def rmsnorm(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w

    def rope(self, x, pos):  # x (B, H, T, HD), pos (T,)
        cos, sin = self.cos[pos], self.sin[pos]
        x1, x2 = x[..., : HD // 2], x[..., HD // 2 :]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    def forward(self, tokens, cache=None, start=0):
        """tokens (B, T) at positions start..start+T-1; cache: per layer (k, v) of (B, NKV, maxT, HD)."""
        B, T = tokens.shape
        pos = torch.arange(start, start + T)
        x = self.embed[tokens]
        for li, layer in enumerate(self.layers):
            h = self.rmsnorm(x, layer.ln1)
            q = (h @ layer.wq.t()).view(B, T, NH, HD).transpose(1, 2)
            k = (h @ layer.wk.t()).view(B, T, NKV, HD).transpose(1, 2)
            v = (h @ layer.wv.t()).view(B, T, NKV, HD).transpose(1, 2)
            q, k = self.rope(q, pos), self.rope(k, pos)
            if cache is not None:
                kc, vc = cache[li]
                kc[:, :, start : start + T] = k
                vc[:, :, start : start + T] = v
                k, v = kc[:, :, : start + T], vc[:, :, : start + T]
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(HD)  # (B, NH, T, S)
            S = k.shape[2]
            mask = torch.ones(T, S, dtype=torch.bool).tril(S - T)
            att = scores.masked_fill(~mask, float("-inf")).softmax(-1) @ v
            x = x + att.transpose(1, 2).reshape(B, T, NH * HD) @ layer.wo.t()
            h = self.rmsnorm(x, layer.ln2)
            x = x + (F.silu(h @ layer.wg.t()) * (h @ layer.wu.t())) @ layer.wd.t()
        return self.rmsnorm(x, self.norm) @ self.head.t()


def time_train(model):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    tokens = torch.randint(0, V, (TRAIN_B, TRAIN_T))
    targets = torch.roll(tokens, -1, 1)
    times = []
    for i in range(ITERS + 2):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logp = model(tokens)[:, :-1].log_softmax(-1).gather(-1, targets[:, :-1, None])
        loss = -logp.mean()
        loss.backward()
        opt.step()
        if i >= 2:
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


@torch.no_grad()
def time_sample(model):
    prompts = torch.randint(0, V, (SAMPLE_B, PROMPT_LEN))
    max_t = PROMPT_LEN + NEW_TOKENS
    rates = []
    for i in range(ITERS + 1):
        gen = torch.Generator().manual_seed(i)
        start = time.perf_counter()
        cache = [(torch.zeros(SAMPLE_B, NKV, max_t, HD), torch.zeros(SAMPLE_B, NKV, max_t, HD)) for _ in range(L)]
        logits = model(prompts, cache, 0)[:, -1]
        for step in range(NEW_TOKENS):
            token = torch.multinomial(logits.softmax(-1), 1, generator=gen)  # (B, 1)
            logp = logits.log_softmax(-1).gather(-1, token)  # kept, as prl keeps it
            if step < NEW_TOKENS - 1:
                logits = model(token, cache, PROMPT_LEN + step)[:, -1]
        if i >= 1:
            rates.append(SAMPLE_B * NEW_TOKENS / (time.perf_counter() - start))
    del logp
    return statistics.median(rates)


def main():
    torch.manual_seed(0)
    model = Llama()
    best_ms, best_rate = float("inf"), 0.0
    for threads in (1, 2):
        torch.set_num_threads(threads)
        best_ms = min(best_ms, time_train(model))
        best_rate = max(best_rate, time_sample(model))
    print(json.dumps({"name": "train-step", "ms": round(best_ms, 2), "provider": f"torch {torch.__version__}"}))
    print(json.dumps({"name": "sample", "tokens_per_s": round(best_rate, 2), "provider": f"torch {torch.__version__}"}))


if __name__ == "__main__":
    main()
