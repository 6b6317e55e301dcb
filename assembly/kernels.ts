// WebAssembly SIMD kernels of the engine (AssemblyScript, compiled by scripts/build-wasm.mjs).
//
// Every tensor argument is a byte offset into the one shared memory. Every kernel ends with
// (tid, nt): thread `tid` of `nt` computes its own share, chosen by `part` over OUTPUT rows or
// columns only. Each output element is produced by one fixed sequence of float32 operations that does
// not depend on where a tile or thread boundary falls, so results are bit-identical for any `nt`:
// - matmul: out[i, j] = ((init + a[i,0] b[0,j]) + a[i,1] b[1,j]) + ... in k order, in every code path
//   (4x8 SIMD tile, single-row tile, scalar edge column); K-blocking stores and reloads the exact sum.
// - row reductions (rmsnorm, softmax, attention dots) use one per-row procedure (4 lanes, then a fixed
//   lane combine, then a scalar tail), never split across threads.
// - column reductions (bias and rmsnorm weight gradients, dk/dv) are split over columns / kv heads.
// The module never allocates: per-thread scratch lives at `scratchBase + tid * SCRATCH_BYTES`,
// a region the host reserves between `__heap_base` and the arena.

// ---------------------------------------------------------------------------------------------------
// Scratch and work splitting

/** Per-thread scratch: the GEMM packing area (PANEL_BYTES: a KC x NC B block, then a KC x MR A tile), then attention score blocks. */
const SCRATCH_BYTES: usize = 2 << 20;
/** GEMM packing area at the start of each thread's scratch: a KC x NC block of B, then a KC x 4 tile of A. */
const PANEL_BYTES: usize = 520 * 1024;
/** Longest attention row (keys) the scratch holds: two rows of scores after the panel. */
const MAX_KEYS: i32 = <i32>((SCRATCH_BYTES - PANEL_BYTES) / (2 * 16 * 4)); // two (BQ = 16, keys) blocks
/** Chunk length of sumSquares; chunk sums go to a shared table of SUMSQ_MAX_CHUNKS float64. */
const SUMSQ_CHUNK: i32 = 8192;
const SUMSQ_MAX_CHUNKS: i32 = 8192;
const MAX_THREADS: i32 = 16;

let scratchBase: usize = 0;

/** End of the module's static data; the host puts the scratch region at or above it. */
export function heapBase(): usize {
  return __heap_base;
}

export function setScratchBase(p: usize): void {
  scratchBase = p;
}
/** Bytes the host must reserve at `scratchBase`: per-thread scratch, then the sumSquares table. */
export function scratchBytes(): i32 {
  return <i32>(SCRATCH_BYTES * MAX_THREADS) + SUMSQ_MAX_CHUNKS * 8;
}
export function maxThreads(): i32 {
  return MAX_THREADS;
}
export function maxKeys(): i32 {
  return MAX_KEYS;
}
export function sumSquaresChunk(): i32 {
  return SUMSQ_CHUNK;
}
export function sumSquaresMaxChunks(): i32 {
  return SUMSQ_MAX_CHUNKS;
}
/** Offset of the float64 chunk-sum table written by sumSquares. */
export function sumSquaresTable(): usize {
  return scratchBase + SCRATCH_BYTES * <usize>MAX_THREADS;
}

@inline function scratchOf(tid: i32): usize {
  return scratchBase + <usize>tid * SCRATCH_BYTES;
}

/** Start of thread tid's share of `total` units, in whole multiples of `grain` units. */
@inline function part(total: i32, grain: i32, tid: i32, nt: i32): i32 {
  const groups = (<i64>total + grain - 1) / grain;
  const start = (groups * tid) / nt * grain;
  return <i32>min<i64>(start, total);
}

// ---------------------------------------------------------------------------------------------------
// exp, shared by the SIMD and scalar paths (Cephes expf: range reduction by ln 2, degree-5 polynomial).
// The scalar version performs the same float32 operations as each SIMD lane, so a value gets the same
// bits whether it falls in a vector body or a tail.

const EXP_HI: f32 = 88.3762626647949;
const EXP_LO: f32 = -87.3365447504;
const LOG2E: f32 = 1.44269504088896341;
const EXP_C1: f32 = 0.693359375;
const EXP_C2: f32 = -2.12194440e-4;
const EXP_P0: f32 = 1.9875691500e-4;
const EXP_P1: f32 = 1.3981999507e-3;
const EXP_P2: f32 = 8.3334519073e-3;
const EXP_P3: f32 = 4.1665795894e-2;
const EXP_P4: f32 = 1.6666665459e-1;
const EXP_P5: f32 = 5.0000001201e-1;

/**
 * expv's constants as scalars in static memory, each used as one `v128.load32_splat` (a single
 * broadcast load). As v128.const immediates, V8 11 rebuilds each 128-bit constant with several
 * instructions on every loop iteration (no loop-invariant hoisting), which made exp-heavy loops 2-3x slower.
 */
const EXP_K: usize = memory.data<f32>([EXP_LO, EXP_HI, LOG2E, 0.5, EXP_C1, EXP_C2, EXP_P0, EXP_P1, EXP_P2, EXP_P3, EXP_P4, EXP_P5, 1.0, 12582912.0]);
/** 0x4B400000 - 127 as an i32 lane: see the 2^n step of expv. */
const EXP_BIAS: usize = memory.data<i32>([0x4B400000 - 127]);
@inline function kExp(i: i32): v128 {
  return v128.load32_splat(EXP_K + (<usize>i << 2));
}
/** 1.0f in every lane, loaded (see EXP_K). */
@inline function onev(): v128 {
  return kExp(12);
}

@inline function expv(x0: v128): v128 {
  // pmin/pmax are single minps/maxps instructions; f32x4.min/max cost ~7 each in V8 for their NaN and
  // signed-zero rules, which a clamp does not need (a NaN input still gives NaN).
  let x = f32x4.pmin(f32x4.pmax(x0, kExp(0)), kExp(1));
  const fx = f32x4.floor(f32x4.add(f32x4.mul(x, kExp(2)), kExp(3)));
  x = f32x4.sub(x, f32x4.mul(fx, kExp(4)));
  x = f32x4.sub(x, f32x4.mul(fx, kExp(5)));
  const z = f32x4.mul(x, x);
  let y = kExp(6);
  y = f32x4.add(f32x4.mul(y, x), kExp(7));
  y = f32x4.add(f32x4.mul(y, x), kExp(8));
  y = f32x4.add(f32x4.mul(y, x), kExp(9));
  y = f32x4.add(f32x4.mul(y, x), kExp(10));
  y = f32x4.add(f32x4.mul(y, x), kExp(11));
  y = f32x4.add(f32x4.add(f32x4.mul(y, z), x), kExp(12));
  // 2^fx built in the exponent bits. fx is a whole number in [-127, 128], so adding 1.5 * 2^23 puts it
  // in the low mantissa bits exactly (bits = 0x4B400000 + fx): the same n as a float-to-int conversion,
  // without V8's long saturating i32x4.trunc_sat sequence.
  const n = i32x4.sub(f32x4.add(fx, kExp(13)), v128.load32_splat(EXP_BIAS));
  return f32x4.mul(y, i32x4.shl(n, 23));
}

@inline function exps(x0: f32): f32 {
  let x = min<f32>(max<f32>(x0, EXP_LO), EXP_HI);
  const fx = Mathf.floor(x * LOG2E + <f32>0.5);
  x = x - fx * EXP_C1;
  x = x - fx * EXP_C2;
  const z = x * x;
  let y = EXP_P0;
  y = y * x + EXP_P1;
  y = y * x + EXP_P2;
  y = y * x + EXP_P3;
  y = y * x + EXP_P4;
  y = y * x + EXP_P5;
  y = (y * z + x) + <f32>1.0;
  const n = <i32>fx;
  return y * reinterpret<f32>((n + 127) << 23);
}

/**
 * a * b + c. In the relaxed-SIMD build (build/kernels-fma.wasm) one fused multiply-add (rounded once, on
 * x64 with FMA3), else a multiply and an add. Every path that sums into the same output uses it, so
 * results are still bit-identical across thread counts within one build.
 */
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** Lane sum in a fixed order: (l0 + l2) + (l1 + l3). */
@inline function hsum(v: v128): f32 {
  const s = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

@inline function hmax(v: v128): f32 {
  const s = f32x4.max(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return max<f32>(f32x4.extract_lane(s, 0), f32x4.extract_lane(s, 1));
}

/** The four lane sums of a, b, c, d as one vector, each in hsum's order. */
@inline function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(v128.shuffle<f32>(a, b, 0, 1, 4, 5), v128.shuffle<f32>(a, b, 2, 3, 6, 7)); // a0+a2 a1+a3 b0+b2 b1+b3
  const cd = f32x4.add(v128.shuffle<f32>(c, d, 0, 1, 4, 5), v128.shuffle<f32>(c, d, 2, 3, 6, 7));
  return f32x4.add(v128.shuffle<f32>(ab, cd, 0, 2, 4, 6), v128.shuffle<f32>(ab, cd, 1, 3, 5, 7));
}

/** Dot product of two float32 rows of length n (n % 4 == 0) in hsum order. */
@inline function dot4(x: usize, y: usize, n: i32): v128 {
  let acc = f32x4.splat(0);
  for (let d = 0; d < n; d += 4) {
    const o = <usize>d << 2;
    acc = madd(v128.load(x + o), v128.load(y + o), acc);
  }
  return acc;
}

// ---------------------------------------------------------------------------------------------------
// Matmul. A(i, k) sits at a + i*ais + k*aks and B(k, j) at b + k*bks + j*bjs (bytes), so one GEMM core
// serves 'nt', 'nn' and 'tn'. Both operands are packed into thread scratch so the micro-kernel reads two
// unit-stride streams with constant offsets: B per (KC x NC) block into 8-column panels (kn, 8), A per
// 4-row tile into (kn, 4). Constant offsets matter in WebAssembly: V8 folds `load(p, 16)` into the
// instruction, while `load(p + stride)` costs an add per load.

/** Rows of the main matmul tile: tile6x8 in the FMA build, tile4x8 in the plain one. */
const MR: i32 = ASC_FEATURE_RELAXED_SIMD ? 6 : 4;
const KC: i32 = 256; // K block
const NC: i32 = 512; // N block: a packed B block is KC x NC floats = 512 KiB (L2)
const A_TILE_OFFSET: usize = <usize>(KC * NC) << 2;

/**
 * out(4, 8) (+)= A(4, kn) · B(kn, 8) from a packed A tile (kn, 4) and B panel (kn, 8). 8 f32x4
 * accumulators, 2 B vectors and one broadcast A value fit x64's 16 xmm registers (V8 keeps one as
 * scratch). Not unrolled over k: a hand-unrolled version measured 2x slower (V8's TurboFan unrolls
 * small wasm loops itself; the larger body apparently defeats that).
 */
function tile4x8(o: usize, ldo: usize, a: usize, b: usize, kn: i32, load: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  if (load) {
    c00 = v128.load(o); c01 = v128.load(o, 16);
    c10 = v128.load(o + ldo); c11 = v128.load(o + ldo, 16);
    c20 = v128.load(o + 2 * ldo); c21 = v128.load(o + 2 * ldo, 16);
    c30 = v128.load(o + 3 * ldo); c31 = v128.load(o + 3 * ldo, 16);
  }
  for (let k = 0; k < kn; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let av = v128.load32_splat(a);
    c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
    av = v128.load32_splat(a, 4);
    c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
    av = v128.load32_splat(a, 8);
    c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
    av = v128.load32_splat(a, 12);
    c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
    a += 16;
    b += 32;
  }
  v128.store(o, c00); v128.store(o, c01, 16);
  v128.store(o + ldo, c10); v128.store(o + ldo, c11, 16);
  v128.store(o + 2 * ldo, c20); v128.store(o + 2 * ldo, c21, 16);
  v128.store(o + 3 * ldo, c30); v128.store(o + 3 * ldo, c31, 16);
}

/**
 * The FMA build's main tile, 6 x 8: 12 accumulators, 2 B vectors and one broadcast A value use 15 xmm
 * registers, possible because a fused multiply-add needs no product temporary (the plain build, with a
 * separate multiply, stays at 4 x 8). 12 independent chains instead of 8 hide more of the FMA latency.
 */
function tile6x8(o: usize, ldo: usize, a: usize, b: usize, kn: i32, load: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0);
  let c50 = f32x4.splat(0), c51 = f32x4.splat(0);
  if (load) {
    c00 = v128.load(o); c01 = v128.load(o, 16);
    c10 = v128.load(o + ldo); c11 = v128.load(o + ldo, 16);
    c20 = v128.load(o + 2 * ldo); c21 = v128.load(o + 2 * ldo, 16);
    c30 = v128.load(o + 3 * ldo); c31 = v128.load(o + 3 * ldo, 16);
    c40 = v128.load(o + 4 * ldo); c41 = v128.load(o + 4 * ldo, 16);
    c50 = v128.load(o + 5 * ldo); c51 = v128.load(o + 5 * ldo, 16);
  }
  for (let k = 0; k < kn; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let av = v128.load32_splat(a);
    c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
    av = v128.load32_splat(a, 4);
    c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
    av = v128.load32_splat(a, 8);
    c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
    av = v128.load32_splat(a, 12);
    c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
    av = v128.load32_splat(a, 16);
    c40 = madd(av, b0, c40); c41 = madd(av, b1, c41);
    av = v128.load32_splat(a, 20);
    c50 = madd(av, b0, c50); c51 = madd(av, b1, c51);
    a += 24;
    b += 32;
  }
  v128.store(o, c00); v128.store(o, c01, 16);
  v128.store(o + ldo, c10); v128.store(o + ldo, c11, 16);
  v128.store(o + 2 * ldo, c20); v128.store(o + 2 * ldo, c21, 16);
  v128.store(o + 3 * ldo, c30); v128.store(o + 3 * ldo, c31, 16);
  v128.store(o + 4 * ldo, c40); v128.store(o + 4 * ldo, c41, 16);
  v128.store(o + 5 * ldo, c50); v128.store(o + 5 * ldo, c51, 16);
}

/** One row: out(1, 8) (+)= A(1, kn) · B(kn, 8), A(k) at a + k*aks (unpacked), the same k order. */
function tile1x8(o: usize, a: usize, aks: usize, b: usize, kn: i32, load: bool): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
  if (load) {
    c0 = v128.load(o); c1 = v128.load(o, 16);
  }
  for (let k = 0; k < kn; k++) {
    const av = v128.load32_splat(a);
    c0 = madd(av, v128.load(b), c0);
    c1 = madd(av, v128.load(b, 16), c1);
    a += aks;
    b += 32;
  }
  v128.store(o, c0); v128.store(o, c1, 16);
}

/** Stores rows r0..r7 (8 columns j, 4 values k each) as 4 k-rows of 8 floats at dst: a (4, 8) panel slice. */
// @ts-ignore: decorator
@inline
function storeTransposed(dst: usize, r0: v128, r1: v128, r2: v128, r3: v128, r4: v128, r5: v128, r6: v128, r7: v128): void {
    const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
    const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
    const u0 = v128.shuffle<f32>(r4, r5, 0, 4, 1, 5), u1 = v128.shuffle<f32>(r6, r7, 0, 4, 1, 5);
    const u2 = v128.shuffle<f32>(r4, r5, 2, 6, 3, 7), u3 = v128.shuffle<f32>(r6, r7, 2, 6, 3, 7);
    v128.store(dst, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5)); v128.store(dst, v128.shuffle<f32>(u0, u1, 0, 1, 4, 5), 16);
    v128.store(dst, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 32); v128.store(dst, v128.shuffle<f32>(u0, u1, 2, 3, 6, 7), 48);
    v128.store(dst, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 64); v128.store(dst, v128.shuffle<f32>(u2, u3, 0, 1, 4, 5), 80);
    v128.store(dst, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 96); v128.store(dst, v128.shuffle<f32>(u2, u3, 2, 3, 6, 7), 112);
}

/** Packs B(0 .. kn, 0 .. 8) into p as (kn, 8) when B is k-contiguous: B(k, j) at b + k*4 + j*ldb. */
function packPanelKContiguous(p: usize, b: usize, ldb: usize, kn: i32): void {
  let src = b;
  let k = 0;
  for (; k + 4 <= kn; k += 4) {
    // Transpose a 4 (k) x 8 (j) block: eight loads of 4 k values, two 4x4 transposes.
    const r0 = v128.load(src), r1 = v128.load(src + ldb), r2 = v128.load(src + 2 * ldb), r3 = v128.load(src + 3 * ldb);
    const r4 = v128.load(src + 4 * ldb), r5 = v128.load(src + 5 * ldb), r6 = v128.load(src + 6 * ldb), r7 = v128.load(src + 7 * ldb);
    storeTransposed(p + (<usize>k << 5), r0, r1, r2, r3, r4, r5, r6, r7);
    src += 16;
  }
  for (; k < kn; k++) {
    const dst = p + (<usize>k << 5);
    for (let jj = 0; jj < 8; jj++) store<f32>(dst + (<usize>jj << 2), load<f32>(src + <usize>jj * ldb));
    src += 4;
  }
}

/** Four bfloat16 values (8 bytes at p) widened exactly to float32: a bfloat16 is the top half of a float32. */
// @ts-ignore: decorator
@inline
function widen4(p: usize): v128 {
  return i32x4.shl(i32x4.extend_low_i16x8_u(v128.load64_zero(p)), 16);
}

/** packPanelKContiguous over bfloat16 B: B(k, j) at b + k*2 + j*ldb, widened to float32 as it is packed. */
function packPanelKContiguous16(p: usize, b: usize, ldb: usize, kn: i32): void {
  let src = b;
  let k = 0;
  for (; k + 4 <= kn; k += 4) {
    const r0 = widen4(src), r1 = widen4(src + ldb), r2 = widen4(src + 2 * ldb), r3 = widen4(src + 3 * ldb);
    const r4 = widen4(src + 4 * ldb), r5 = widen4(src + 5 * ldb), r6 = widen4(src + 6 * ldb), r7 = widen4(src + 7 * ldb);
    storeTransposed(p + (<usize>k << 5), r0, r1, r2, r3, r4, r5, r6, r7);
    src += 8;
  }
  for (; k < kn; k++) {
    const dst = p + (<usize>k << 5);
    for (let jj = 0; jj < 8; jj++) store<u32>(dst + (<usize>jj << 2), <u32>load<u16>(src + <usize>jj * ldb) << 16);
    src += 2;
  }
}

/** packPanelJContiguous over bfloat16 B: B(k, j) at b + k*ldb + j*2. */
function packPanelJContiguous16(p: usize, b: usize, ldb: usize, kn: i32): void {
  let src = b;
  for (let k = 0; k < kn; k++) {
    const dst = p + (<usize>k << 5);
    const v = v128.load(src);
    v128.store(dst, i32x4.shl(i32x4.extend_low_i16x8_u(v), 16));
    v128.store(dst, i32x4.shl(i32x4.extend_high_i16x8_u(v), 16), 16);
    src += ldb;
  }
}

/** Packs B(0 .. kn, 0 .. 8) into p as (kn, 8) when B is j-contiguous: B(k, j) at b + k*ldb + j*4. */
function packPanelJContiguous(p: usize, b: usize, ldb: usize, kn: i32): void {
  let src = b;
  for (let k = 0; k < kn; k++) {
    const dst = p + (<usize>k << 5);
    v128.store(dst, v128.load(src));
    v128.store(dst, v128.load(src, 16), 16);
    src += ldb;
  }
}

/**
 * Packs A(0 .. mr, 0 .. kn) into p as (kn, mr); A(i, k) at a + i*ais + k*aks, one of ais, aks is 4.
 * Rows go in groups of 4 (one vector per k, or 4x4 transposes), the last mr % 4 rows one by one.
 */
function packTileA(p: usize, a: usize, ais: usize, aks: usize, kn: i32, mr: i32): void {
  const ld = <usize>mr << 2;
  let i = 0;
  for (; i + 4 <= mr; i += 4) {
    const src = a + <usize>i * ais, dst = p + (<usize>i << 2);
    if (ais == 4) {
      // Columns contiguous ('tn'): A(i .. i+4, k) is one vector.
      for (let k = 0; k < kn; k++) v128.store(dst + <usize>k * ld, v128.load(src + <usize>k * aks));
      continue;
    }
    // Rows contiguous ('nt', 'nn'): 4x4 transposes.
    let k = 0;
    for (; k + 4 <= kn; k += 4) {
      const s0 = src + (<usize>k << 2);
      const r0 = v128.load(s0), r1 = v128.load(s0 + ais), r2 = v128.load(s0 + 2 * ais), r3 = v128.load(s0 + 3 * ais);
      const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
      const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
      const d0 = dst + <usize>k * ld;
      v128.store(d0, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
      v128.store(d0 + ld, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
      v128.store(d0 + 2 * ld, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
      v128.store(d0 + 3 * ld, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
    }
    for (; k < kn; k++) {
      for (let r = 0; r < 4; r++) store<f32>(dst + <usize>k * ld + (<usize>r << 2), load<f32>(src + <usize>r * ais + (<usize>k << 2)));
    }
  }
  for (; i < mr; i++) {
    const src = a + <usize>i * ais, dst = p + (<usize>i << 2);
    for (let k = 0; k < kn; k++) store<f32>(dst + <usize>k * ld, load<f32>(src + <usize>k * aks));
  }
}

/** B(k, j) at `p` as float32: float32 storage, or bfloat16 widened. */
// @ts-ignore: decorator
@inline
function loadB(p: usize, b16: bool): f32 {
  return b16 ? reinterpret<f32>(<u32>load<u16>(p) << 16) : load<f32>(p);
}

/**
 * The GEMM core: out (M, N, row stride ldo bytes) (+)= A · B with A(i, k) at a + i*ais + k*aks and
 * B(k, j) at b + k*bks + j*bjs (bytes; one of ais, aks is 4 and one of bks, bjs the element size of B:
 * 4, or 2 for bfloat16 B when `b16`). Per (K, N) block, B is packed (as float32) into 8-column panels;
 * per 4-row tile, A is packed to (kn, 4) and swept over all panels. Every output element is init + Σ_k in
 * k order, the same in every path (tile, single row, edge column), so a bfloat16 B gives exactly the bits
 * of the same values stored as float32.
 */
function gemm(out: usize, ldo: usize, a: usize, ais: usize, aks: usize, b: usize, bks: usize, bjs: usize, M: i32, N: i32, K: i32, accumulate: bool, b16: bool, scratch: usize): void {
  const eb: usize = b16 ? 2 : 4;
  const aTile = scratch + A_TILE_OFFSET;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min(NC, N - jc);
    const ncFull = nc & ~7;
    for (let k0 = 0; k0 < K; k0 += KC) {
      const kn = min(KC, K - k0);
      const keep = accumulate || k0 > 0;
      const panelBytes = <usize>kn << 5;
      const bBlock = b + <usize>k0 * bks + <usize>jc * bjs;
      for (let p = 0; p < ncFull; p += 8) {
        const dst = scratch + <usize>(p >> 3) * panelBytes;
        if (b16) {
          if (bks == eb) packPanelKContiguous16(dst, bBlock + <usize>p * bjs, bjs, kn);
          else packPanelJContiguous16(dst, bBlock + <usize>p * eb, bks, kn);
        } else if (bks == eb) packPanelKContiguous(dst, bBlock + <usize>p * bjs, bjs, kn);
        else packPanelJContiguous(dst, bBlock + (<usize>p << 2), bks, kn);
      }
      const aBlock = a + <usize>k0 * aks;
      if (ncFull > 0) {
        let i = 0;
        for (; i + MR <= M; i += MR) {
          packTileA(aTile, aBlock + <usize>i * ais, ais, aks, kn, MR);
          const o = out + <usize>i * ldo + (<usize>jc << 2);
          for (let p = 0; p < ncFull; p += 8) {
            const bp = scratch + <usize>(p >> 3) * panelBytes;
            if (MR == 6) tile6x8(o + (<usize>p << 2), ldo, aTile, bp, kn, keep);
            else tile4x8(o + (<usize>p << 2), ldo, aTile, bp, kn, keep);
          }
        }
        for (; i + 4 <= M; i += 4) {
          packTileA(aTile, aBlock + <usize>i * ais, ais, aks, kn, 4);
          const o = out + <usize>i * ldo + (<usize>jc << 2);
          for (let p = 0; p < ncFull; p += 8) {
            tile4x8(o + (<usize>p << 2), ldo, aTile, scratch + <usize>(p >> 3) * panelBytes, kn, keep);
          }
        }
        for (; i < M; i++) {
          const o = out + <usize>i * ldo + (<usize>jc << 2);
          for (let p = 0; p < ncFull; p += 8) {
            tile1x8(o + (<usize>p << 2), aBlock + <usize>i * ais, aks, scratch + <usize>(p >> 3) * panelBytes, kn, keep);
          }
        }
      }
      // Edge columns (N % 8): scalar, same k order.
      for (let j = jc + ncFull; j < jc + nc; j++) {
        for (let i = 0; i < M; i++) {
          const o = out + <usize>i * ldo + (<usize>j << 2);
          let acc: f32 = keep ? load<f32>(o) : 0;
          let pa = aBlock + <usize>i * ais;
          let pb = b + <usize>k0 * bks + <usize>j * bjs;
          for (let k = 0; k < kn; k++) {
            acc = acc + load<f32>(pa) * loadB(pb, b16);
            pa += aks;
            pb += bks;
          }
          store<f32>(o, acc);
        }
      }
    }
  }
}

/**
 * out (+)= op(a) · op(b), out (M, N). layout 0 'nt': a (M, K), b (N, K); 1 'nn': a (M, K), b (K, N);
 * 2 'tn': a (K, M), b (K, N). b16 != 0: b holds bfloat16 (2 bytes each), widened exactly as it is packed.
 * Threads split the M rows in multiples of the tile height MR.
 */
export function matmul(out: usize, a: usize, b: usize, M: i32, N: i32, K: i32, layout: i32, accumulate: i32, b16: i32, tid: i32, nt: i32): void {
  const i0 = part(M, MR, tid, nt), i1 = part(M, MR, tid + 1, nt);
  if (i0 >= i1) return;
  const eb: usize = b16 != 0 ? 2 : 4;
  const ais: usize = layout == 2 ? 4 : <usize>K << 2;
  const aks: usize = layout == 2 ? <usize>M << 2 : 4;
  const bks: usize = layout == 0 ? eb : <usize>N * eb;
  const bjs: usize = layout == 0 ? <usize>K * eb : eb;
  const ldo = <usize>N << 2;
  gemm(out + <usize>i0 * ldo, ldo, a + <usize>i0 * ais, ais, aks, b, bks, bjs, i1 - i0, N, K, accumulate != 0, b16 != 0, scratchOf(tid));
}

// ---------------------------------------------------------------------------------------------------
// Bias

/** out (N, C) += bias (C). Threads split rows. */
export function addBias(out: usize, bias: usize, N: i32, C: i32, tid: i32, nt: i32): void {
  const r0 = part(N, 1, tid, nt), r1 = part(N, 1, tid + 1, nt);
  const c4 = C & ~3;
  for (let r = r0; r < r1; r++) {
    const row = out + ((<usize>r * <usize>C) << 2);
    for (let c = 0; c < c4; c += 4) {
      const o = <usize>c << 2;
      v128.store(row + o, f32x4.add(v128.load(row + o), v128.load(bias + o)));
    }
    for (let c = c4; c < C; c++) {
      const o = <usize>c << 2;
      store<f32>(row + o, load<f32>(row + o) + load<f32>(bias + o));
    }
  }
}

/** dbias (C) += column sums of dout (N, C), rows summed in order. Threads split columns. */
export function biasBackward(dbias: usize, dout: usize, N: i32, C: i32, tid: i32, nt: i32): void {
  const c0 = part(C, 4, tid, nt), c1 = part(C, 4, tid + 1, nt);
  const ld = <usize>C << 2;
  let c = c0;
  for (; c + 4 <= c1; c += 4) {
    const o = <usize>c << 2;
    let acc = v128.load(dbias + o);
    for (let r = 0; r < N; r++) acc = f32x4.add(acc, v128.load(dout + <usize>r * ld + o));
    v128.store(dbias + o, acc);
  }
  for (; c < c1; c++) {
    const o = <usize>c << 2;
    let acc = load<f32>(dbias + o);
    for (let r = 0; r < N; r++) acc = acc + load<f32>(dout + <usize>r * ld + o);
    store<f32>(dbias + o, acc);
  }
}

// ---------------------------------------------------------------------------------------------------
// RMSNorm (Zhang & Sennrich 2019): y = x * rstd * w, rstd = 1 / sqrt(mean(x²) + eps).

/** Sum of x[i] * y[i] * z[i] over a row, 4 lanes then tail. */
@inline function rowDot3(x: usize, y: usize, z: usize, C: i32): f32 {
  const c4 = C & ~3;
  let acc = f32x4.splat(0);
  for (let c = 0; c < c4; c += 4) {
    const o = <usize>c << 2;
    acc = f32x4.add(acc, f32x4.mul(f32x4.mul(v128.load(x + o), v128.load(y + o)), v128.load(z + o)));
  }
  let s = hsum(acc);
  for (let c = c4; c < C; c++) {
    const o = <usize>c << 2;
    s = s + load<f32>(x + o) * load<f32>(y + o) * load<f32>(z + o);
  }
  return s;
}

@inline function rowSumSq(x: usize, C: i32): f32 {
  const c4 = C & ~3;
  let acc = f32x4.splat(0);
  for (let c = 0; c < c4; c += 4) {
    const v = v128.load(x + (<usize>c << 2));
    acc = f32x4.add(acc, f32x4.mul(v, v));
  }
  let s = hsum(acc);
  for (let c = c4; c < C; c++) {
    const v = load<f32>(x + (<usize>c << 2));
    s = s + v * v;
  }
  return s;
}

export function rmsnormForward(out: usize, rstd: usize, x: usize, w: usize, N: i32, C: i32, eps: f32, tid: i32, nt: i32): void {
  const r0 = part(N, 1, tid, nt), r1 = part(N, 1, tid + 1, nt);
  const c4 = C & ~3;
  for (let r = r0; r < r1; r++) {
    const row = <usize>r * <usize>C << 2;
    const xr = x + row, orow = out + row;
    const s = <f32>1.0 / Mathf.sqrt(rowSumSq(xr, C) / <f32>C + eps);
    store<f32>(rstd + (<usize>r << 2), s);
    const sv = f32x4.splat(s);
    for (let c = 0; c < c4; c += 4) {
      const o = <usize>c << 2;
      v128.store(orow + o, f32x4.mul(f32x4.mul(v128.load(xr + o), sv), v128.load(w + o)));
    }
    for (let c = c4; c < C; c++) {
      const o = <usize>c << 2;
      store<f32>(orow + o, load<f32>(xr + o) * s * load<f32>(w + o));
    }
  }
}

/**
 * dx_i += rstd * w_i * g_i - x_i * rstd³ / C * Σ_j g_j w_j x_j (rows split over threads);
 * dw_i += Σ_n g_ni x_ni rstd_n (columns split over threads, rows summed in order).
 */
export function rmsnormBackward(dx: usize, dw: usize, dout: usize, x: usize, w: usize, rstd: usize, N: i32, C: i32, tid: i32, nt: i32): void {
  const r0 = part(N, 1, tid, nt), r1 = part(N, 1, tid + 1, nt);
  const c4 = C & ~3;
  for (let r = r0; r < r1; r++) {
    const row = <usize>r * <usize>C << 2;
    const xr = x + row, gr = dout + row, dr = dx + row;
    const s = load<f32>(rstd + (<usize>r << 2));
    const k = s * s * s * rowDot3(gr, w, xr, C) / <f32>C;
    const sv = f32x4.splat(s), kv = f32x4.splat(k);
    for (let c = 0; c < c4; c += 4) {
      const o = <usize>c << 2;
      const t = f32x4.sub(f32x4.mul(sv, f32x4.mul(v128.load(w + o), v128.load(gr + o))), f32x4.mul(v128.load(xr + o), kv));
      v128.store(dr + o, f32x4.add(v128.load(dr + o), t));
    }
    for (let c = c4; c < C; c++) {
      const o = <usize>c << 2;
      const t = s * (load<f32>(w + o) * load<f32>(gr + o)) - load<f32>(xr + o) * k;
      store<f32>(dr + o, load<f32>(dr + o) + t);
    }
  }
  const k0 = part(C, 4, tid, nt), k1 = part(C, 4, tid + 1, nt);
  const ld = <usize>C << 2;
  let c = k0;
  // 16 columns (one 64-byte line of each row) per pass over the rows: one column per pass would read
  // every line 4 times at a power-of-two stride that conflicts in L1. Sums still run over rows in order.
  for (; c + 16 <= k1; c += 16) {
    const o = <usize>c << 2;
    let a0 = v128.load(dw + o), a1 = v128.load(dw + o, 16), a2 = v128.load(dw + o, 32), a3 = v128.load(dw + o, 48);
    for (let r = 0; r < N; r++) {
      const ro = <usize>r * ld + o;
      const g = dout + ro, xr = x + ro;
      const sv = v128.load32_splat(rstd + (<usize>r << 2));
      a0 = f32x4.add(a0, f32x4.mul(f32x4.mul(v128.load(g), v128.load(xr)), sv));
      a1 = f32x4.add(a1, f32x4.mul(f32x4.mul(v128.load(g, 16), v128.load(xr, 16)), sv));
      a2 = f32x4.add(a2, f32x4.mul(f32x4.mul(v128.load(g, 32), v128.load(xr, 32)), sv));
      a3 = f32x4.add(a3, f32x4.mul(f32x4.mul(v128.load(g, 48), v128.load(xr, 48)), sv));
    }
    v128.store(dw + o, a0); v128.store(dw + o, a1, 16); v128.store(dw + o, a2, 32); v128.store(dw + o, a3, 48);
  }
  for (; c + 4 <= k1; c += 4) {
    const o = <usize>c << 2;
    let acc = v128.load(dw + o);
    for (let r = 0; r < N; r++) {
      const ro = <usize>r * ld + o;
      const t = f32x4.mul(f32x4.mul(v128.load(dout + ro), v128.load(x + ro)), v128.load32_splat(rstd + (<usize>r << 2)));
      acc = f32x4.add(acc, t);
    }
    v128.store(dw + o, acc);
  }
  for (; c < k1; c++) {
    const o = <usize>c << 2;
    let acc = load<f32>(dw + o);
    for (let r = 0; r < N; r++) {
      const ro = <usize>r * ld + o;
      acc = acc + load<f32>(dout + ro) * load<f32>(x + ro) * load<f32>(rstd + (<usize>r << 2));
    }
    store<f32>(dw + o, acc);
  }
}

// ---------------------------------------------------------------------------------------------------
// Rotary embedding (Su et al. 2021), HF rotate-half: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin).

export function rope(x: usize, positions: usize, cos: usize, sin: usize, N: i32, nHeads: i32, headDim: i32, inverse: i32, tid: i32, nt: i32): void {
  const r0 = part(N, 1, tid, nt), r1 = part(N, 1, tid + 1, nt);
  const half = headDim >> 1;
  const h4 = half & ~3;
  const sign: f32 = inverse != 0 ? -1 : 1;
  const signv = f32x4.splat(sign);
  for (let r = r0; r < r1; r++) {
    const p = <usize>load<i32>(positions + (<usize>r << 2));
    const cr = cos + ((p * <usize>half) << 2), sr = sin + ((p * <usize>half) << 2);
    for (let h = 0; h < nHeads; h++) {
      const x1 = x + (((<usize>r * <usize>nHeads + <usize>h) * <usize>headDim) << 2);
      const x2 = x1 + (<usize>half << 2);
      for (let i = 0; i < h4; i += 4) {
        const o = <usize>i << 2;
        const c = v128.load(cr + o), s = f32x4.mul(v128.load(sr + o), signv);
        const a = v128.load(x1 + o), b = v128.load(x2 + o);
        v128.store(x1 + o, f32x4.sub(f32x4.mul(a, c), f32x4.mul(b, s)));
        v128.store(x2 + o, f32x4.add(f32x4.mul(b, c), f32x4.mul(a, s)));
      }
      for (let i = h4; i < half; i++) {
        const o = <usize>i << 2;
        const c = load<f32>(cr + o), s = load<f32>(sr + o) * sign;
        const a = load<f32>(x1 + o), b = load<f32>(x2 + o);
        store<f32>(x1 + o, a * c - b * s);
        store<f32>(x2 + o, b * c + a * s);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Causal attention. Head dims are multiples of 4 (the host checks). Scores of one query row go to
// thread scratch; keys are processed 4 at a time (hsum4 gives each key's dot in hsum order, and a
// partial group repeats its last key so every key takes the same path).

/**
 * Scaled scores of query qp against keys 0 .. n-1 (key j at kp + j*ks) into sc; returns their max.
 */
@inline function scoreRow(sc: usize, qp: usize, kp: usize, ks: usize, n: i32, hd: i32, scale: f32): f32 {
  let mx = f32x4.splat(-Infinity);
  const sv = f32x4.splat(scale);
  for (let j = 0; j < n; j += 4) {
    const j1 = min(j + 1, n - 1), j2 = min(j + 2, n - 1), j3 = min(j + 3, n - 1);
    const s = f32x4.mul(hsum4(dot4(qp, kp + <usize>j * ks, hd), dot4(qp, kp + <usize>j1 * ks, hd), dot4(qp, kp + <usize>j2 * ks, hd), dot4(qp, kp + <usize>j3 * ks, hd)), sv);
    v128.store(sc + (<usize>j << 2), s);
    mx = f32x4.pmax(mx, s); // repeated keys do not change the max
  }
  return hmax(mx);
}

/** p_j = exp(sc_j - shift) in place over n scores; returns Σ p_j (4 lanes in order, then hsum). */
@inline function expRow(sc: usize, n: i32, shift: f32): f32 {
  const shv = f32x4.splat(shift);
  let acc = f32x4.splat(0);
  const n4 = n & ~3;
  for (let j = 0; j < n4; j += 4) {
    const o = <usize>j << 2;
    const p = expv(f32x4.sub(v128.load(sc + o), shv));
    v128.store(sc + o, p);
    acc = f32x4.add(acc, p);
  }
  let s = hsum(acc);
  for (let j = n4; j < n; j++) {
    const o = <usize>j << 2;
    const p = exps(load<f32>(sc + o) - shift);
    store<f32>(sc + o, p);
    s = s + p;
  }
  return s;
}

/** o = Σ_j w_j v_j * mul over n rows v_j at vp + j*vs (hd floats each), j in order. */
@inline function weightedRows(o: usize, w: usize, vp: usize, vs: usize, n: i32, hd: i32, mul: f32): void {
  const mv = f32x4.splat(mul);
  let d = 0;
  for (; d + 16 <= hd; d += 16) {
    const od = <usize>d << 2;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let v = vp + od;
    for (let j = 0; j < n; j++) {
      const pj = v128.load32_splat(w + (<usize>j << 2));
      a0 = madd(pj, v128.load(v), a0);
      a1 = madd(pj, v128.load(v, 16), a1);
      a2 = madd(pj, v128.load(v, 32), a2);
      a3 = madd(pj, v128.load(v, 48), a3);
      v += vs;
    }
    v128.store(o + od, f32x4.mul(a0, mv)); v128.store(o + od, f32x4.mul(a1, mv), 16);
    v128.store(o + od, f32x4.mul(a2, mv), 32); v128.store(o + od, f32x4.mul(a3, mv), 48);
  }
  for (; d < hd; d += 4) {
    const od = <usize>d << 2;
    let a0 = f32x4.splat(0);
    let v = vp + od;
    for (let j = 0; j < n; j++) {
      a0 = madd(v128.load32_splat(w + (<usize>j << 2)), v128.load(v), a0);
      v += vs;
    }
    v128.store(o + od, f32x4.mul(a0, mv));
  }
}

/** One query row: out = softmax(q·K/sqrt(hd)) V over n keys; returns the log-sum-exp. */
@inline function attendRow(op: usize, qp: usize, kp: usize, vp: usize, ks: usize, n: i32, hd: i32, scale: f32, sc: usize): f32 {
  const m = scoreRow(sc, qp, kp, ks, n, hd, scale);
  const l = expRow(sc, n, m);
  weightedRows(op, sc, vp, ks, n, hd, <f32>1.0 / l);
  return m + Mathf.log(l);
}

/** Query rows per block in the blocked attention kernels (a multiple of 8: key counts stay tile-aligned). */
const BQ: i32 = 16;

/**
 * Row t of a (BQ, ld) score block holding unscaled q·k for keys 0 .. nTotal-1: overwrite it with
 * softmax(scale * s) over keys 0 .. n-1 and zeros after; returns the log-sum-exp of the scaled scores.
 */
@inline function softmaxRowCausal(row: usize, n: i32, nTotal: i32, scale: f32): f32 {
  const n4 = n & ~3;
  const sv = f32x4.splat(scale);
  let mv = f32x4.splat(-Infinity);
  for (let j = 0; j < n4; j += 4) {
    const o = <usize>j << 2;
    const x = f32x4.mul(v128.load(row + o), sv);
    v128.store(row + o, x);
    mv = f32x4.pmax(mv, x); // pmax: one maxps (f32x4.max is ~7 instructions in V8); a NaN score still poisons the row through exp
  }
  let m = hmax(mv);
  for (let j = n4; j < n; j++) {
    const o = <usize>j << 2;
    const x = load<f32>(row + o) * scale;
    store<f32>(row + o, x);
    m = max<f32>(m, x);
  }
  const l = expRow(row, n, m);
  const inv = <f32>1.0 / l;
  const iv = f32x4.splat(inv);
  for (let j = 0; j < n4; j += 4) v128.store(row + (<usize>j << 2), f32x4.mul(v128.load(row + (<usize>j << 2)), iv));
  for (let j = n4; j < n; j++) store<f32>(row + (<usize>j << 2), load<f32>(row + (<usize>j << 2)) * inv);
  for (let j = n; j < nTotal; j++) store<f32>(row + (<usize>j << 2), 0);
  return m + Mathf.log(l);
}

/**
 * Threads split (b, h) pairs. Per pair, query blocks of BQ rows: S = Q Kᵀ over the keys the block can
 * see, a causal softmax per row, then O = P V, both products on the GEMM core.
 */
export function attentionForward(out: usize, lse: usize, q: usize, k: usize, v: usize, B: i32, T: i32, nHead: i32, nKv: i32, hd: i32, tid: i32, nt: i32): void {
  const u0 = part(B * nHead, 1, tid, nt), u1 = part(B * nHead, 1, tid + 1, nt);
  const scratch = scratchOf(tid);
  const S = scratch + PANEL_BYTES;
  const scale: f32 = <f32>1.0 / Mathf.sqrt(<f32>hd);
  const group = nHead / nKv;
  const qs = <usize>(nHead * hd) << 2, ks = <usize>(nKv * hd) << 2;
  for (let u = u0; u < u1; u++) {
    const b = u / nHead, h = u % nHead;
    const kvBase = ((<usize>b * <usize>T * <usize>nKv + <usize>(h / group)) * <usize>hd) << 2;
    const qBase = ((<usize>b * <usize>T * <usize>nHead + <usize>h) * <usize>hd) << 2;
    for (let q0 = 0; q0 < T; q0 += BQ) {
      const bq = min(BQ, T - q0);
      const nk = q0 + bq; // keys this block sees
      const ld = <usize>nk << 2;
      const qb = q + qBase + <usize>q0 * qs;
      gemm(S, ld, qb, qs, 4, k + kvBase, 4, ks, bq, nk, hd, false, false, scratch); // (bq, nk) = Q Kᵀ
      for (let r = 0; r < bq; r++) {
        const l = softmaxRowCausal(S + <usize>r * ld, q0 + r + 1, nk, scale);
        store<f32>(lse + (((<usize>u * <usize>T) + <usize>(q0 + r)) << 2), l);
      }
      gemm(out + qBase + <usize>q0 * qs, qs, S, ld, 4, v + kvBase, ks, 4, bq, hd, nk, false, false, scratch); // (bq, hd) = P V
    }
  }
}

/**
 * Backward of attentionForward (FlashAttention-2 style recomputation from lse, Dao 2023). Per query
 * block: P = exp(scale Q Kᵀ - lse) (causal), dP = dO Vᵀ, dS = scale P ∘ (dP - rowsum(dO ∘ O));
 * dQ += dS K, dK += dSᵀ Q, dV += Pᵀ dO. Threads split (b, kv head) pairs, so every dk/dv row is
 * accumulated by one thread in (head, query block) order.
 */
export function attentionBackward(dq: usize, dk: usize, dv: usize, dout: usize, out: usize, lse: usize, q: usize, k: usize, v: usize,
  B: i32, T: i32, nHead: i32, nKv: i32, hd: i32, tid: i32, nt: i32): void {
  const u0 = part(B * nKv, 1, tid, nt), u1 = part(B * nKv, 1, tid + 1, nt);
  const scratch = scratchOf(tid);
  const P = scratch + PANEL_BYTES;
  const DS = P + ((<usize>BQ * <usize>T) << 2);
  const scale: f32 = <f32>1.0 / Mathf.sqrt(<f32>hd);
  const group = nHead / nKv;
  const qs = <usize>(nHead * hd) << 2, ks = <usize>(nKv * hd) << 2;
  for (let u = u0; u < u1; u++) {
    const b = u / nKv, kvh = u % nKv;
    const kvBase = ((<usize>b * <usize>T * <usize>nKv + <usize>kvh) * <usize>hd) << 2;
    const kp = k + kvBase, vp = v + kvBase, dkp = dk + kvBase, dvp = dv + kvBase;
    for (let h = kvh * group; h < (kvh + 1) * group; h++) {
      const qBase = ((<usize>b * <usize>T * <usize>nHead + <usize>h) * <usize>hd) << 2;
      const lseRow = lse + (((<usize>b * <usize>nHead + <usize>h) * <usize>T) << 2);
      for (let q0 = 0; q0 < T; q0 += BQ) {
        const bq = min(BQ, T - q0);
        const nk = q0 + bq;
        const ld = <usize>nk << 2;
        const ro = qBase + <usize>q0 * qs;
        gemm(P, ld, q + ro, qs, 4, kp, 4, ks, bq, nk, hd, false, false, scratch); // S = Q Kᵀ
        gemm(DS, ld, dout + ro, qs, 4, vp, 4, ks, bq, nk, hd, false, false, scratch); // dP = dO Vᵀ
        for (let r = 0; r < bq; r++) {
          const t = q0 + r;
          const n = t + 1;
          const pr = P + <usize>r * ld, dr = DS + <usize>r * ld;
          const D = hsum(dot4(dout + ro + <usize>r * qs, out + ro + <usize>r * qs, hd));
          const l = load<f32>(lseRow + (<usize>t << 2));
          // p = exp(scale s - lse) for keys <= t, 0 after; ds = scale p (dp - D).
          const sv = f32x4.splat(scale), lv = f32x4.splat(l), Dv = f32x4.splat(D);
          const n4 = n & ~3;
          for (let j = 0; j < n4; j += 4) {
            const o = <usize>j << 2;
            const p = expv(f32x4.sub(f32x4.mul(v128.load(pr + o), sv), lv));
            v128.store(pr + o, p);
            v128.store(dr + o, f32x4.mul(sv, f32x4.mul(p, f32x4.sub(v128.load(dr + o), Dv))));
          }
          for (let j = n4; j < n; j++) {
            const o = <usize>j << 2;
            const p = exps(load<f32>(pr + o) * scale - l);
            store<f32>(pr + o, p);
            store<f32>(dr + o, scale * (p * (load<f32>(dr + o) - D)));
          }
          for (let j = n; j < nk; j++) {
            store<f32>(pr + (<usize>j << 2), 0);
            store<f32>(dr + (<usize>j << 2), 0);
          }
        }
        gemm(dq + ro, qs, DS, ld, 4, kp, ks, 4, bq, hd, nk, true, false, scratch); // dQ += dS K
        gemm(dkp, ks, DS, 4, ld, q + ro, qs, 4, nk, hd, bq, true, false, scratch); // dK += dSᵀ Q
        gemm(dvp, ks, P, 4, ld, dout + ro, qs, 4, nk, hd, bq, true, false, scratch); // dV += Pᵀ dO
      }
    }
  }
}

/**
 * Attention of Tq new query rows per sequence against a KV cache (B, maxT, nKv, hd): query t of
 * sequence b sits at position pos[b] + t and sees cache rows 0 .. pos[b] + t. Threads split (b, h).
 */
export function attentionCached(out: usize, q: usize, kc: usize, vc: usize, pos: usize, Tq: i32, maxT: i32, B: i32, nHead: i32, nKv: i32, hd: i32, tid: i32, nt: i32): void {
  const u0 = part(B * nHead, 1, tid, nt), u1 = part(B * nHead, 1, tid + 1, nt);
  const sc = scratchOf(tid) + PANEL_BYTES;
  const scale: f32 = <f32>1.0 / Mathf.sqrt(<f32>hd);
  const group = nHead / nKv;
  const qs = <usize>(nHead * hd) << 2, ks = <usize>(nKv * hd) << 2;
  for (let u = u0; u < u1; u++) {
    const b = u / nHead, h = u % nHead;
    const p0 = load<i32>(pos + (<usize>b << 2));
    const kvBase = ((<usize>b * <usize>maxT * <usize>nKv + <usize>(h / group)) * <usize>hd) << 2;
    const qBase = ((<usize>b * <usize>Tq * <usize>nHead + <usize>h) * <usize>hd) << 2;
    for (let t = 0; t < Tq; t++) {
      const ro = qBase + <usize>t * qs;
      attendRow(out + ro, q + ro, kc + kvBase, vc + kvBase, ks, p0 + t + 1, hd, scale, sc);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// SwiGLU (Shazeer 2020): out = silu(gate) * up, silu(g) = g * sigmoid(g).

export function swigluForward(out: usize, gate: usize, up: usize, n: i32, tid: i32, nt: i32): void {
  const i0 = part(n, 16, tid, nt), i1 = part(n, 16, tid + 1, nt);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    const g = v128.load(gate + o);
    const sg = f32x4.div(onev(), f32x4.add(onev(), expv(f32x4.neg(g))));
    v128.store(out + o, f32x4.mul(f32x4.mul(g, sg), v128.load(up + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(gate + o);
    const sg = <f32>1 / (<f32>1 + exps(-g));
    store<f32>(out + o, g * sg * load<f32>(up + o));
  }
}

/** dgate += dout * up * s (1 + g (1 - s)), dup += dout * g * s, s = sigmoid(g). */
export function swigluBackward(dgate: usize, dup: usize, dout: usize, gate: usize, up: usize, n: i32, tid: i32, nt: i32): void {
  const i0 = part(n, 16, tid, nt), i1 = part(n, 16, tid + 1, nt);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    const g = v128.load(gate + o), u = v128.load(up + o), d = v128.load(dout + o);
    const s = f32x4.div(onev(), f32x4.add(onev(), expv(f32x4.neg(g))));
    const ds = f32x4.mul(s, f32x4.add(onev(), f32x4.mul(g, f32x4.sub(onev(), s))));
    v128.store(dgate + o, f32x4.add(v128.load(dgate + o), f32x4.mul(f32x4.mul(d, u), ds)));
    v128.store(dup + o, f32x4.add(v128.load(dup + o), f32x4.mul(d, f32x4.mul(g, s))));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(gate + o), u = load<f32>(up + o), d = load<f32>(dout + o);
    const s = <f32>1 / (<f32>1 + exps(-g));
    const ds = s * (<f32>1 + g * (<f32>1 - s));
    store<f32>(dgate + o, load<f32>(dgate + o) + d * u * ds);
    store<f32>(dup + o, load<f32>(dup + o) + d * (g * s));
  }
}

// ---------------------------------------------------------------------------------------------------
// Log-softmax with target gather (the language-model loss and per-token log-probabilities).

@inline function rowMax(x: usize, V: i32): f32 {
  const v4 = V & ~3;
  let mv = f32x4.splat(-Infinity);
  for (let j = 0; j < v4; j += 4) mv = f32x4.pmax(mv, v128.load(x + (<usize>j << 2))); // see softmaxRowCausal
  let m = hmax(mv);
  for (let j = v4; j < V; j++) m = max<f32>(m, load<f32>(x + (<usize>j << 2)));
  return m;
}

/** Σ exp(x_j - m) over a row without writing it. */
@inline function rowSumExp(x: usize, V: i32, m: f32): f32 {
  const v4 = V & ~3;
  const mv = f32x4.splat(m);
  let acc = f32x4.splat(0);
  for (let j = 0; j < v4; j += 4) acc = f32x4.add(acc, expv(f32x4.sub(v128.load(x + (<usize>j << 2)), mv)));
  let s = hsum(acc);
  for (let j = v4; j < V; j++) s = s + exps(load<f32>(x + (<usize>j << 2)) - m);
  return s;
}

export function logSoftmaxGather(logp: usize, lse: usize, logits: usize, targets: usize, N: i32, V: i32, tid: i32, nt: i32): void {
  const r0 = part(N, 1, tid, nt), r1 = part(N, 1, tid + 1, nt);
  for (let r = r0; r < r1; r++) {
    const row = logits + ((<usize>r * <usize>V) << 2);
    const m = rowMax(row, V);
    const l = m + Mathf.log(rowSumExp(row, V, m));
    store<f32>(lse + (<usize>r << 2), l);
    const t = load<i32>(targets + (<usize>r << 2));
    store<f32>(logp + (<usize>r << 2), t < 0 ? <f32>0 : load<f32>(row + (<usize>t << 2)) - l);
  }
}

/** dlogits = dlogp * (onehot(target) - softmax(logits)), overwriting; dlogits may alias logits. */
export function logSoftmaxGatherBackward(dlogits: usize, dlogp: usize, logits: usize, lse: usize, targets: usize, N: i32, V: i32, tid: i32, nt: i32): void {
  const r0 = part(N, 1, tid, nt), r1 = part(N, 1, tid + 1, nt);
  const v4 = V & ~3;
  for (let r = r0; r < r1; r++) {
    const ro = (<usize>r * <usize>V) << 2;
    const src = logits + ro, dst = dlogits + ro;
    const t = load<i32>(targets + (<usize>r << 2));
    if (t < 0) {
      memory.fill(dst, 0, <usize>V << 2);
      continue;
    }
    const g = load<f32>(dlogp + (<usize>r << 2));
    const l = load<f32>(lse + (<usize>r << 2));
    const lv = f32x4.splat(l), gv = f32x4.splat(-g);
    for (let j = 0; j < v4; j += 4) {
      const o = <usize>j << 2;
      v128.store(dst + o, f32x4.mul(gv, expv(f32x4.sub(v128.load(src + o), lv))));
    }
    for (let j = v4; j < V; j++) {
      const o = <usize>j << 2;
      store<f32>(dst + o, -g * exps(load<f32>(src + o) - l));
    }
    const to = dst + (<usize>t << 2);
    store<f32>(to, load<f32>(to) + g);
  }
}

/**
 * lse and entropy per row: H = log s - Σ e_j (z_j - m) / s with e_j = exp(z_j - m), s = Σ e_j, so the
 * entropy is not a difference of two numbers near lse. Rows split over threads.
 */
export function softmaxEntropy(entropy: usize, lse: usize, logits: usize, N: i32, V: i32, tid: i32, nt: i32): void {
  const r0 = part(N, 1, tid, nt), r1 = part(N, 1, tid + 1, nt);
  const v4 = V & ~3;
  for (let r = r0; r < r1; r++) {
    const row = logits + ((<usize>r * <usize>V) << 2);
    const m = rowMax(row, V);
    const mv = f32x4.splat(m);
    let sv = f32x4.splat(0), wv = f32x4.splat(0);
    for (let j = 0; j < v4; j += 4) {
      const shifted = f32x4.sub(v128.load(row + (<usize>j << 2)), mv);
      const e = expv(shifted);
      sv = f32x4.add(sv, e);
      wv = f32x4.add(wv, f32x4.mul(e, shifted));
    }
    let s = hsum(sv), w = hsum(wv);
    for (let j = v4; j < V; j++) {
      const shifted = load<f32>(row + (<usize>j << 2)) - m;
      const e = exps(shifted);
      s += e;
      w += e * shifted;
    }
    const logS = Mathf.log(s);
    store<f32>(lse + (<usize>r << 2), m + logS);
    store<f32>(entropy + (<usize>r << 2), logS - w / s);
  }
}

/** weights = scale[n] * exp(logits - lse[n]) per row, overwriting; weights may alias logits. */
export function softmaxWeights(weights: usize, logits: usize, lse: usize, scale: usize, N: i32, V: i32, tid: i32, nt: i32): void {
  const r0 = part(N, 1, tid, nt), r1 = part(N, 1, tid + 1, nt);
  const v4 = V & ~3;
  for (let r = r0; r < r1; r++) {
    const ro = (<usize>r * <usize>V) << 2;
    const src = logits + ro, dst = weights + ro;
    const l = load<f32>(lse + (<usize>r << 2));
    const c = load<f32>(scale + (<usize>r << 2));
    const lv = f32x4.splat(l), cv = f32x4.splat(c);
    for (let j = 0; j < v4; j += 4) {
      const o = <usize>j << 2;
      v128.store(dst + o, f32x4.mul(cv, expv(f32x4.sub(v128.load(src + o), lv))));
    }
    for (let j = v4; j < V; j++) {
      const o = <usize>j << 2;
      store<f32>(dst + o, c * exps(load<f32>(src + o) - l));
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Reductions and elementwise updates

/** Chunk c (SUMSQ_CHUNK floats) of x: float64 sum of squares into the chunk table. Threads split chunks. */
export function sumSquares(x: usize, n: i32, tid: i32, nt: i32): void {
  const chunks = (n + SUMSQ_CHUNK - 1) / SUMSQ_CHUNK;
  const c0 = part(chunks, 1, tid, nt), c1 = part(chunks, 1, tid + 1, nt);
  const table = sumSquaresTable();
  for (let c = c0; c < c1; c++) {
    const s0 = c * SUMSQ_CHUNK, s1 = min(n, s0 + SUMSQ_CHUNK);
    let lo = f64x2.splat(0), hi = f64x2.splat(0);
    let i = s0;
    for (; i + 4 <= s1; i += 4) {
      const v = v128.load(x + (<usize>i << 2));
      const a = f64x2.promote_low_f32x4(v);
      const b = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1));
      lo = f64x2.add(lo, f64x2.mul(a, a));
      hi = f64x2.add(hi, f64x2.mul(b, b));
    }
    const both = f64x2.add(lo, hi);
    let s = f64x2.extract_lane(both, 0) + f64x2.extract_lane(both, 1);
    for (; i < s1; i++) {
      const v = <f64>load<f32>(x + (<usize>i << 2));
      s += v * v;
    }
    store<f64>(table + (<usize>c << 3), s);
  }
}

export function scale(x: usize, s: f32, n: i32, tid: i32, nt: i32): void {
  const i0 = part(n, 16, tid, nt), i1 = part(n, 16, tid + 1, nt);
  const sv = f32x4.splat(s);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(x + o, f32x4.mul(v128.load(x + o), sv));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(x + o, load<f32>(x + o) * s);
  }
}

export function add(out: usize, a: usize, b: usize, n: i32, tid: i32, nt: i32): void {
  const i0 = part(n, 16, tid, nt), i1 = part(n, 16, tid + 1, nt);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/**
 * AdamW (Loshchilov & Hutter 2019): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²;
 * p -= lr (m/bc1 / (sqrt(v/bc2) + eps) + wd p), with bc = 1 - beta^step from the host.
 */
export function adamw(p: usize, g: usize, m: usize, v: usize, n: i32, lr: f32, b1: f32, b2: f32, eps: f32, wd: f32, bc1: f32, bc2: f32, tid: i32, nt: i32): void {
  const i0 = part(n, 16, tid, nt), i1 = part(n, 16, tid + 1, nt);
  const b1v = f32x4.splat(b1), b2v = f32x4.splat(b2), c1v = f32x4.splat(<f32>1 - b1), c2v = f32x4.splat(<f32>1 - b2);
  const bc1v = f32x4.splat(bc1), bc2v = f32x4.splat(bc2), lrv = f32x4.splat(lr), epsv = f32x4.splat(eps), wdv = f32x4.splat(wd);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    const gv = v128.load(g + o), pv = v128.load(p + o);
    const mv = f32x4.add(f32x4.mul(b1v, v128.load(m + o)), f32x4.mul(c1v, gv));
    const vv = f32x4.add(f32x4.mul(b2v, v128.load(v + o)), f32x4.mul(c2v, f32x4.mul(gv, gv)));
    v128.store(m + o, mv);
    v128.store(v + o, vv);
    const upd = f32x4.add(f32x4.div(f32x4.div(mv, bc1v), f32x4.add(f32x4.sqrt(f32x4.div(vv, bc2v)), epsv)), f32x4.mul(wdv, pv));
    v128.store(p + o, f32x4.sub(pv, f32x4.mul(lrv, upd)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    const gs = load<f32>(g + o), ps = load<f32>(p + o);
    const ms = b1 * load<f32>(m + o) + (<f32>1 - b1) * gs;
    const vs = b2 * load<f32>(v + o) + (<f32>1 - b2) * (gs * gs);
    store<f32>(m + o, ms);
    store<f32>(v + o, vs);
    const upd = ms / bc1 / (Mathf.sqrt(vs / bc2) + eps) + wd * ps;
    store<f32>(p + o, ps - lr * upd);
  }
}

// ---------------------------------------------------------------------------------------------------
// Sampling (src/engine/sampling-rows.ts): the exp passes of softmax / temperature / top-k / top-p over a
// (N, V) block of logits. Work units are (row, vocabulary chunk) pairs, so one long row (a single
// sequence decoding) still spreads over every thread; each unit's reductions run in one fixed order.

/** chunkMax[r, c] = max of logits[r, c*chunk .. min(V, (c+1)*chunk)); units split over threads. */
export function samplingMax(chunkMax: usize, logits: usize, N: i32, V: i32, chunk: i32, tid: i32, nt: i32): void {
  const nC = (V + chunk - 1) / chunk;
  const u0 = part(N * nC, 1, tid, nt), u1 = part(N * nC, 1, tid + 1, nt);
  for (let u = u0; u < u1; u++) {
    const r = u / nC, c = u % nC;
    const j0 = c * chunk;
    const row = logits + ((<usize>r * <usize>V + <usize>j0) << 2);
    store<f32>(chunkMax + (<usize>u << 2), rowMax(row, min(chunk, V - j0)));
  }
}

/** exp(x) for x >= EXP_LO, exactly 0 below (expv clamps there instead): -Infinity logits get weight 0. */
@inline function expFlushv(x: v128): v128 {
  return v128.and(expv(x), f32x4.ge(x, kExp(0)));
}
@inline function expFlushs(x: f32): f32 {
  return x >= EXP_LO ? exps(x) : <f32>0;
}

/** Both lanes pairs of a float32 vector added to float64 accumulators: lo += (v0, v1), hi += (v2, v3). */
@inline function addWide(acc: v128, v: v128, high: bool): v128 {
  return f64x2.add(acc, f64x2.promote_low_f32x4(high ? v128.shuffle<f32>(v, v, 2, 3, 0, 1) : v));
}

/**
 * Per unit (row r, chunk c), with m the row's max (from chunkMax, exact in any order) and x = z - m:
 * sums[u*2] = Σ exp(x) (float64 over float32 exps: the temperature-1 normaliser) and, when invT > 0,
 * weights = exp(x * invT) (tempered, unnormalised; the max token gets 1) with sums[u*2+1] = Σ weights
 * (float64 over the stored float32 values, so a walk over them agrees with the sum). invT = 1 reuses
 * the first exp; invT = 0 (greedy) writes no weights.
 */
export function samplingWeights(weights: usize, sums: usize, logits: usize, chunkMax: usize, invT: f32, N: i32, V: i32, chunk: i32, tid: i32, nt: i32): void {
  const nC = (V + chunk - 1) / chunk;
  const u0 = part(N * nC, 1, tid, nt), u1 = part(N * nC, 1, tid + 1, nt);
  const tv = f32x4.splat(invT);
  for (let u = u0; u < u1; u++) {
    const r = u / nC, c = u % nC;
    const j0 = c * chunk, n = min(chunk, V - j0), n4 = n & ~3;
    const maxRow = chunkMax + ((<usize>r * <usize>nC) << 2);
    let m = load<f32>(maxRow);
    for (let i = 1; i < nC; i++) m = max<f32>(m, load<f32>(maxRow + (<usize>i << 2)));
    const mv = f32x4.splat(m);
    const off = (<usize>r * <usize>V + <usize>j0) << 2;
    const src = logits + off, dst = weights + off;
    let eLo = f64x2.splat(0), eHi = f64x2.splat(0), wLo = f64x2.splat(0), wHi = f64x2.splat(0);
    for (let j = 0; j < n4; j += 4) {
      const o = <usize>j << 2;
      const x = f32x4.sub(v128.load(src + o), mv);
      const e = expFlushv(x);
      eLo = addWide(eLo, e, false);
      eHi = addWide(eHi, e, true);
      if (invT > 0) {
        const w = invT == 1 ? e : expFlushv(f32x4.mul(x, tv));
        v128.store(dst + o, w);
        wLo = addWide(wLo, w, false);
        wHi = addWide(wHi, w, true);
      }
    }
    const eAll = f64x2.add(eLo, eHi), wAll = f64x2.add(wLo, wHi);
    let se = f64x2.extract_lane(eAll, 0) + f64x2.extract_lane(eAll, 1);
    let sw = f64x2.extract_lane(wAll, 0) + f64x2.extract_lane(wAll, 1);
    for (let j = n4; j < n; j++) {
      const o = <usize>j << 2;
      const x = load<f32>(src + o) - m;
      const e = expFlushs(x);
      se += <f64>e;
      if (invT > 0) {
        const w = invT == 1 ? e : expFlushs(x * invT);
        store<f32>(dst + o, w);
        sw += <f64>w;
      }
    }
    store<f64>(sums + (<usize>u << 4), se);
    store<f64>(sums + (<usize>u << 4), sw, 8);
  }
}
