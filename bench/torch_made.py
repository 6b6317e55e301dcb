"""PyTorch peer of bench/made.ts: the PAV didactic MADE (masked MLP over D = 10 positions of V = 15
tokens, hidden 128 x 3, ReLU, per-position log-softmax) written independently in torch, timing
  train  - forward + log-softmax gather + backward + Adam (lr 1e-3) on a batch of 64 sequences
  sample - 64 sequences drawn position by position, each position a full forward of the whole network
           on the one-hot of the positions drawn so far (as MadeModel.sample does)
with torch.set_num_threads(1) and (2): median wall and process-CPU ms per call. Prints one JSON line.
Debian's torch calls OpenBLAS (libblas.so.3) for matmuls, and OpenBLAS keeps its own thread count
(default: every core) whatever set_num_threads says, so it is set to the same count here.

Run with /usr/bin/python3 (Debian python3-torch)."""
import ctypes
import json
import statistics
import time

import torch
import torch.nn.functional as F

V, D, HIDDEN, B, EOS, LR = 15, 10, [128, 128, 128], 64, 14, 1e-3


class Made(torch.nn.Module):
    """Degrees (MADE, Germain et al. 2015): input unit of position d (1-based) has degree d, hidden unit j
    degree 1 + j mod (D - 1); hidden units see degrees <= theirs, the outputs of position d degrees < d."""

    def __init__(self):
        super().__init__()
        sizes = [D * V, *HIDDEN, D * V]
        deg_in = torch.arange(D * V) // V + 1  # (D·V,)
        degrees = [deg_in] + [torch.arange(h) % (D - 1) + 1 for h in HIDDEN] + [deg_in]
        self.linears = torch.nn.ModuleList(torch.nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:]))
        for l, lin in enumerate(self.linears):
            out_deg, in_deg = degrees[l + 1][:, None], degrees[l][None, :]
            mask = (out_deg > in_deg) if l == len(HIDDEN) else (out_deg >= in_deg)  # (out, in)
            self.register_buffer(f"mask{l}", mask.float())
            with torch.no_grad():
                lin.weight.mul_(mask)

    def forward(self, x):  # x (B, D·V) one-hot -> logits (B, D·V)
        for l, lin in enumerate(self.linears):
            x = F.linear(x, lin.weight * getattr(self, f"mask{l}"), lin.bias)  # masked weight: masked grads too
            if l < len(HIDDEN):
                x = x.relu()
        return x


def set_threads(n):
    """torch's OpenMP threads and, when torch's BLAS is OpenBLAS, OpenBLAS's own pool; True if the latter was set."""
    torch.set_num_threads(n)
    try:
        ctypes.CDLL("libblas.so.3").openblas_set_num_threads(n)
        return True
    except (OSError, AttributeError):
        return False


def one_hot(tokens, known):  # tokens (B, D) -> (B, D·V), positions >= known left at zero
    x = torch.zeros(tokens.shape[0], D, V)
    x[:, :known].scatter_(-1, tokens[:, :known, None], 1.0)
    return x.view(tokens.shape[0], D * V)


def timed(fn, warmup, repeats, calls):
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(calls):
            fn()
        wall.append((time.perf_counter() - t0) * 1000 / calls)
        cpu.append((time.process_time() - c0) * 1000 / calls)
    return {"ms": round(statistics.median(wall), 3), "cpu_ms": round(statistics.median(cpu), 3)}


def bench(model, tokens):
    opt = torch.optim.Adam(model.parameters(), lr=LR)

    def train():  # tokens (B, D) -> logp (B, D) -> loss = -mean logp -> Adam
        opt.zero_grad(set_to_none=True)
        logits = model(one_hot(tokens, D)).view(B, D, V)
        logp = logits.log_softmax(-1).gather(-1, tokens[..., None])  # (B, D, 1)
        (-logp.mean()).backward()
        opt.step()

    @torch.no_grad()
    def sample():
        out = torch.zeros(B, D, dtype=torch.long)
        ended = torch.zeros(B, dtype=torch.bool)
        for d in range(D):
            logits = model(one_hot(out, d))[:, d * V : (d + 1) * V]  # (B, V), the whole network per position
            token = torch.multinomial(logits.softmax(-1), 1)[:, 0]
            out[:, d] = torch.where(ended, EOS, token)
            ended |= out[:, d] == EOS
        return out

    return {"train": timed(train, 10, 15, 20), "sample": timed(sample, 5, 15, 5)}


def main():
    torch.manual_seed(0)
    model = Made()
    tokens = torch.randint(0, V, (B, D))
    results, openblas = {}, False
    for threads in (1, 2):
        openblas = set_threads(threads)
        results[str(threads)] = bench(model, tokens)
    best = {op: min((r[op] for r in results.values()), key=lambda t: t["ms"]) for op in ("train", "sample")}
    print(json.dumps({"name": "made", "provider": f"torch {torch.__version__}", "openblas_threads_set": openblas, "threads": results, "best": best}))


if __name__ == "__main__":
    main()
