#!/usr/bin/env python3
"""Independent plain-Python reference for `prl advantages` and `prl metrics` (SPEC.md formulas).

Written from SPEC.md, not from the TypeScript: float64 throughout, pass@k by exact binomials.
Usage:
  algos_reference.py advantages --estimator E [--eta E] [--beta B] [--kl k1|k3] [--step-split S] [--std M] < in.jsonl
  algos_reference.py metrics < samples.jsonl        (point estimates only; no bootstrap)
"""
import argparse
import json
import math
import sys
from collections import OrderedDict


def group_advantage(rewards, std_mode):
    n = len(rewards)
    if n == 1:
        return [rewards[0]]  # mean 0, std 1
    mean = sum(rewards) / n
    if std_mode == "none":
        return [r - mean for r in rewards]
    var = sum((r - mean) ** 2 for r in rewards) / (n - 1 if std_mode == "unbiased" else n)
    return [(r - mean) / (math.sqrt(var) + 1e-6) for r in rewards]


def rloo(rewards):
    n = len(rewards)
    if n == 1:
        return [rewards[0]]
    return [r - (sum(rewards) - r) / (n - 1) for r in rewards]


def decode_delimiter(raw):
    return json.loads('"' + raw.replace('"', '\\"').replace('\\\\"', '\\"') + '"')


def step_end_set(spec, rec):
    """Set of token positions where a step ends (before adding the last valid token)."""
    mask = rec["mask"]
    valid = [t for t, m in enumerate(mask) if m]
    if not valid:
        return set(), -1
    last = valid[-1]
    kind, _, arg = spec.partition(":")
    ends = set()
    if kind == "length":
        L = int(arg)
        ends = {t for t in range(last + 1) if (t + 1) % L == 0}
    elif kind == "tokens":
        ids = {int(x) for x in arg.split(",")}
        ends = {t for t in range(last + 1) if rec["token_ids"][t] in ids}
    elif kind == "text":
        delim = decode_delimiter(arg)
        text, offsets = rec["text"], rec["token_offsets"]
        owner = [None] * len(text)  # which token each character belongs to
        for t in range(len(offsets)):
            stop = offsets[t + 1] if t + 1 < len(offsets) else len(text)
            for c in range(offsets[t], stop):
                owner[c] = t
        pos = 0
        while True:
            i = text.find(delim, pos)
            if i < 0:
                break
            t = owner[i + len(delim) - 1]
            if t is not None and t <= last:
                ends.add(t)
            pos = i + len(delim)
    else:
        raise SystemExit("bad step split " + spec)
    ends.add(last)
    return ends, last


def kl_term(old, ref, kind):
    if kind == "k1":
        return old - ref
    u = math.exp(ref) / math.exp(old) if old > -700 else math.exp(ref - old)
    return -math.log(u) + u - 1


def advantages(args, records):
    groups = OrderedDict()
    for i, rec in enumerate(records):
        groups.setdefault((type(rec["group"]).__name__, rec["group"]), []).append(i)
    rewards = [rec["reward"] for rec in records]
    group_adv = [0.0] * len(records)
    for members in groups.values():
        g = [rewards[i] for i in members]
        adv = rloo(g) if args.estimator == "rloo" else group_advantage(g, args.std)
        for i, a in zip(members, adv):
            group_adv[i] = a
    if args.estimator == "reinforce":
        mean = sum(rewards) / len(rewards)
        group_adv = [r - mean for r in rewards]
    out = []
    for i, rec in enumerate(records):
        mask = rec["mask"]
        T = len(mask)
        if args.estimator in ("grpo", "rloo", "reinforce"):
            out.append([group_adv[i] if mask[t] else 0.0 for t in range(T)])
            continue
        old, ref = rec["logprobs_old"], rec["logprobs_ref"]
        kind = args.kl if args.estimator == "frpo" else "k1"
        coef = args.beta if args.estimator == "frpo" else 1.0 / args.eta
        base = rec["reward"] if args.estimator == "prl-raw" else group_adv[i]
        # value at t: base - coef * sum_{j >= t} m_j delta_j
        values = []
        for t in range(T):
            future = sum(kl_term(old[j], ref[j], kind) for j in range(t, T) if mask[j])
            values.append(base - coef * future)
        if args.estimator in ("frpo", "prl-raw"):
            out.append([values[t] if mask[t] else 0.0 for t in range(T)])
            continue
        ends, last = step_end_set(args.step_split, rec)
        row = [0.0] * T
        for t in range(last + 1):
            end = min(e for e in ends if e >= t)
            row[t] = values[end] if mask[t] else 0.0
        out.append(row)
    return out


def metrics(records):
    n = len(records[0]["correct"])
    ks = []
    k = 1
    while k < n:
        ks.append(k)
        k *= 2
    ks.append(n)
    result = {"problems": len(records), "n": n}
    result["avg@%d" % n] = sum(sum(r["correct"]) / n for r in records) / len(records)
    for k in ks:
        total = 0.0
        for r in records:
            c = sum(r["correct"])
            total += 1.0 - math.comb(n - c, k) / math.comb(n, k)
        result["pass@%d" % k] = total / len(records)
    if all("answers" in r for r in records):
        hits = 0
        for r in records:
            counts = OrderedDict()
            for j, a in enumerate(r["answers"]):
                if a is not None:
                    counts.setdefault(a, []).append(j)
            if counts:
                top = max(len(v) for v in counts.values())
                winner = next(v for v in counts.values() if len(v) == top)
                hits += 1 if r["correct"][winner[0]] else 0
        result["maj@%d" % n] = hits / len(records)
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["advantages", "metrics"])
    parser.add_argument("--estimator", default="grpo")
    parser.add_argument("--eta", type=float, default=100.0)
    parser.add_argument("--beta", type=float, default=0.01)
    parser.add_argument("--kl", default="k1")
    parser.add_argument("--step-split", default="length:256")
    parser.add_argument("--std", default="unbiased")
    args = parser.parse_args()
    records = [json.loads(line) for line in sys.stdin if line.strip()]
    if args.command == "metrics":
        print(json.dumps(metrics(records)))
    else:
        for row in advantages(args, records):
            print(json.dumps({"advantages": row}))


if __name__ == "__main__":
    main()
