// Kernel throughput at the bench model's shapes (PRESETS.bench: C 128, intermediate 384, vocab 32,
// 4 heads of 32, batch 32 x 64 tokens), WebAssembly on 1 and 2 threads against PyTorch (CPU, 1 and 2
// threads) measured in the same run. Run: node dist/bench/kernels.js
import { spawnSync } from 'node:child_process';
import { createEngine } from '../src/engine/kernels/index.js';
import type { Kernels, MatmulLayout } from '../src/engine/kernels/types.js';
import type { Arena } from '../src/engine/memory.js';

interface MatmulCase {
  what: string;
  layout: MatmulLayout;
  M: number;
  N: number;
  K: number;
}

const ROWS = 2048, C = 128, I = 384, V = 32, DECODE = 32;
const CASES: MatmulCase[] = [
  { what: 'q/k/v/o fwd', layout: 'nt', M: ROWS, N: C, K: C },
  { what: 'gate/up fwd', layout: 'nt', M: ROWS, N: I, K: C },
  { what: 'down fwd', layout: 'nt', M: ROWS, N: C, K: I },
  { what: 'lm head fwd', layout: 'nt', M: ROWS, N: V, K: C },
  { what: 'q/k/v/o dx', layout: 'nn', M: ROWS, N: C, K: C },
  { what: 'gate/up dx', layout: 'nn', M: ROWS, N: C, K: I },
  { what: 'down dx', layout: 'nn', M: ROWS, N: I, K: C },
  { what: 'lm head dx', layout: 'nn', M: ROWS, N: C, K: V },
  { what: 'q/k/v/o dW', layout: 'tn', M: C, N: C, K: ROWS },
  { what: 'gate/up dW', layout: 'tn', M: I, N: C, K: ROWS },
  { what: 'down dW', layout: 'tn', M: C, N: I, K: ROWS },
  { what: 'lm head dW', layout: 'tn', M: V, N: C, K: ROWS },
  { what: 'decode gate/up', layout: 'nt', M: DECODE, N: I, K: C },
  { what: 'decode down', layout: 'nt', M: DECODE, N: C, K: I },
];
const ATT = { B: 32, T: 64, nHead: 4, nKvHead: 4, headDim: 32 };

/** Seconds per call: best of 5 batches of at least ~50 ms, by wall clock and by process CPU time. */
function timeIt(fn: () => void): { wall: number; cpu: number } {
  fn();
  let reps = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    if (performance.now() - t0 > 50) break;
    reps *= 2;
  }
  let wall = Infinity, cpu = Infinity;
  for (let b = 0; b < 5; b++) {
    const t0 = performance.now(), c0 = process.cpuUsage();
    for (let i = 0; i < reps; i++) fn();
    const c = process.cpuUsage(c0);
    wall = Math.min(wall, (performance.now() - t0) / 1000 / reps);
    cpu = Math.min(cpu, (c.user + c.system) / 1e6 / reps);
  }
  return { wall, cpu };
}

interface Timings {
  matmul: number[]; // GFLOP/s by wall clock
  matmulCpu: number[]; // GFLOP/s per CPU-second (robust to other load on the machine; single thread only)
  attFwd: number;
  attBwd: number;
}

function filled(arena: Arena, n: number): Float32Array {
  const t = arena.allocF32(n);
  for (let i = 0; i < n; i++) t[i] = Math.sin(i * 0.37) * 0.5;
  return t;
}

function benchWasm(kernels: Kernels, arena: Arena): Timings {
  const matmul: number[] = [], matmulCpu: number[] = [];
  for (const { layout, M, N, K } of CASES) {
    const mark = arena.mark();
    const a = filled(arena, M * K), b = filled(arena, N * K), out = arena.allocF32(M * N);
    const s = timeIt(() => kernels.matmul(out, a, b, M, N, K, layout, false));
    arena.release(mark);
    matmul.push((2 * M * N * K) / s.wall / 1e9);
    matmulCpu.push((2 * M * N * K) / s.cpu / 1e9);
  }
  const mark = arena.mark();
  const n = ATT.B * ATT.T * ATT.nHead * ATT.headDim;
  const q = filled(arena, n), k = filled(arena, n), v = filled(arena, n), out = arena.allocF32(n), lse = arena.allocF32(ATT.B * ATT.nHead * ATT.T);
  const dq = arena.allocF32(n), dk = arena.allocF32(n), dv = arena.allocF32(n), dout = filled(arena, n);
  const attFwd = timeIt(() => kernels.attentionForward(out, lse, q, k, v, ATT)).wall;
  const attBwd = timeIt(() => kernels.attentionBackward(dq, dk, dv, dout, out, lse, q, k, v, ATT)).wall;
  arena.release(mark);
  return { matmul, matmulCpu, attFwd, attBwd };
}

const TORCH_SCRIPT = String.raw`
import json, sys, time, torch
cases, att = json.loads(sys.argv[1]), json.loads(sys.argv[2])
def timeit(fn):
    fn()
    reps = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(reps): fn()
        if time.perf_counter() - t0 > 0.05: break
        reps *= 2
    wall = cpu = float('inf')
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(reps): fn()
        wall = min(wall, (time.perf_counter() - t0) / reps)
        cpu = min(cpu, (time.process_time() - c0) / reps)
    return wall, cpu
res = {}
for threads in (1, 2):
    torch.set_num_threads(threads)
    gf, gfc = [], []
    for c in cases:
        M, N, K = c['M'], c['N'], c['K']
        out = torch.empty(M, N)
        if c['layout'] == 'nt':
            a, b = torch.randn(M, K), torch.randn(N, K); fn = lambda: torch.mm(a, b.t(), out=out)
        elif c['layout'] == 'nn':
            a, b = torch.randn(M, K), torch.randn(K, N); fn = lambda: torch.mm(a, b, out=out)
        else:
            a, b = torch.randn(K, M), torch.randn(K, N); fn = lambda: torch.mm(a.t(), b, out=out)
        wall, cpu = timeit(fn)
        gf.append(2 * M * N * K / wall / 1e9)
        gfc.append(2 * M * N * K / cpu / 1e9)
    B, T, H, D = att['B'], att['T'], att['nHead'], att['headDim']
    q, k, v = [torch.randn(B, H, T, D, requires_grad=True) for _ in range(3)]
    mask = torch.ones(T, T, dtype=torch.bool).triu(1)
    def attention():
        s = (q @ k.transpose(-1, -2)) * D ** -0.5
        return torch.softmax(s.masked_fill(mask, float('-inf')), -1) @ v
    with torch.no_grad():
        fwd = timeit(attention)[0]
    o = attention(); g = torch.randn_like(o)
    bwd = timeit(lambda: torch.autograd.grad(o, (q, k, v), g, retain_graph=True))[0]
    res[threads] = {'matmul': gf, 'matmulCpu': gfc, 'attFwd': fwd, 'attBwd': bwd}
print(json.dumps({'torch': torch.__version__, 'res': res}))
`;

function benchTorch(): { version: string; res: Record<string, Timings> } | undefined {
  const run = spawnSync('/usr/bin/python3', ['-c', TORCH_SCRIPT, JSON.stringify(CASES), JSON.stringify(ATT)], { encoding: 'utf8' });
  if (run.status !== 0) {
    console.log(`(PyTorch comparison skipped: ${run.error?.message ?? run.stderr.trim().split('\n').pop()})`);
    return undefined;
  }
  const parsed = JSON.parse(run.stdout) as { torch: string; res: Record<string, Timings> };
  return { version: parsed.torch, res: parsed.res };
}

const wasm: Record<number, ReturnType<typeof benchWasm>> = {};
let variant = '';
for (const threads of [1, 2]) {
  const { arena, kernels } = await createEngine({ threads });
  variant = kernels.name.replace(/ x\d+$/, '');
  wasm[threads] = benchWasm(kernels, arena);
  await kernels.dispose();
}
// The plain build (no fused multiply-add), one thread, for comparison with the default module.
const plainEngine = await createEngine({ threads: 1, fma: false });
const plain = benchWasm(plainEngine.kernels, plainEngine.arena);
await plainEngine.kernels.dispose();
const torch = benchTorch();

const f1 = (x: number) => x.toFixed(1);
console.log(`Matmul GFLOP/s (wasm = ${variant}, plain = wasm-simd without FMA; torch ${torch?.version ?? 'n/a'}). "cpu" columns divide`);
console.log('by process CPU time instead of wall time (one thread): robust to other load on the machine.\n');
console.log('| shape | layout | M x N x K | plain x1 cpu | wasm x1 cpu | torch x1 cpu | ratio | wasm x1 | wasm x2 | torch x1 | torch x2 | ratio x2 |');
console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
const cell = (x?: number) => (x === undefined ? 'n/a' : f1(x));
const ratio = (w: number, t?: number) => (t ? (w / t).toFixed(2) : 'n/a');
CASES.forEach((c, i) => {
  const wc = wasm[1].matmulCpu[i], tc = torch?.res['1'].matmulCpu[i];
  const w1 = wasm[1].matmul[i], w2 = wasm[2].matmul[i];
  const t1 = torch?.res['1'].matmul[i], t2 = torch?.res['2'].matmul[i];
  console.log(`| ${c.what} | ${c.layout} | ${c.M}x${c.N}x${c.K} | ${f1(plain.matmulCpu[i])} | ${f1(wc)} | ${cell(tc)} | ${ratio(wc, tc)} | ${f1(w1)} | ${f1(w2)} | ${cell(t1)} | ${cell(t2)} | ${ratio(w2, t2)} |`);
});
const ms = (s: number) => (s * 1000).toFixed(2);
const causalPairs = ATT.B * ATT.nHead * ((ATT.T * (ATT.T + 1)) / 2) * ATT.headDim;
console.log(`\nCausal attention B=${ATT.B} T=${ATT.T} heads=${ATT.nHead} headDim=${ATT.headDim}: ms per call (GFLOP/s counting 4 resp. 10 flops per (query, key, dim))\n`);
console.log('| call | wasm x1 | wasm x2 | torch x1 | torch x2 |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const [name, key, flops] of [['forward', 'attFwd', 4], ['backward', 'attBwd', 10]] as const) {
  const cell = (s?: number) => (s === undefined ? 'n/a' : `${ms(s)} (${f1((flops * causalPairs) / s / 1e9)})`);
  console.log(`| ${name} | ${cell(wasm[1][key])} | ${cell(wasm[2][key])} | ${cell(torch?.res['1'][key])} | ${cell(torch?.res['2'][key])} |`);
}
