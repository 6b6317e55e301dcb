/**
 * ggml tensor types prl writes into GGUF files: F32, F16 (IEEE binary16) and Q8_0 (ggml-common.h's
 * block_q8_0: per 32 values one f16 scale d = amax / 127 and 32 int8 quants q = round(x / d), 34 bytes),
 * with the conversions as ggml does them, and the reverse for reading files back.
 */
import { inputError } from '../util/errors.js';

export const GGML_TYPE_F32 = 0;
export const GGML_TYPE_F16 = 1;
export const GGML_TYPE_Q8_0 = 8;
/** Values per Q8_0 block; a block is an f16 scale d followed by 32 int8 quants (34 bytes). */
export const Q8_0_BLOCK = 32;
export const Q8_0_BLOCK_BYTES = 2 + Q8_0_BLOCK;

/** The tensor types prl writes. */
export type GgufTensorType = 'f32' | 'f16' | 'q8_0';
export const GGML_TYPE_ID: Record<GgufTensorType, number> = { f32: GGML_TYPE_F32, f16: GGML_TYPE_F16, q8_0: GGML_TYPE_Q8_0 };

/**
 * IEEE binary16 bits of `x`, rounded to nearest even as ggml's `GGML_FP32_TO_FP16` does; values past
 * the f16 range become infinities, tiny ones subnormals or zero.
 */
export function f32ToF16Bits(x: number): number {
  const f = new Float32Array([x]);
  const bits = new Uint32Array(f.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0); // inf / NaN
  const e = exp - 127 + 15; // rebiased exponent
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    // Subnormal: shift the mantissa (with its implicit 1) right, rounding to nearest even.
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let h = m >>> shift;
    if (rest > half || (rest === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++; // may carry into the exponent: still right
  return sign | h;
}

/** The value of binary16 bits. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/**
 * One Q8_0 block as ggml's `quantize_row_q8_0_ref` makes it: d = amax / 127, q = round(x / d) (half away
 * from zero, computed as x * (1/d) in float32), d stored as f16. Returns d's f16 bits; fills `q` (32).
 */
export function quantizeQ8_0Block(x: Float32Array, q: Int8Array): number {
  let amax = 0;
  for (let i = 0; i < Q8_0_BLOCK; i++) amax = Math.max(amax, Math.abs(x[i]));
  const d = Math.fround(amax / 127);
  const id = d !== 0 ? Math.fround(1 / d) : 0;
  for (let i = 0; i < Q8_0_BLOCK; i++) {
    const v = Math.fround(x[i] * id);
    q[i] = Math.sign(v) * Math.round(Math.abs(v)); // C roundf: half away from zero
  }
  return f32ToF16Bits(d);
}

export function tensorBytes(type: GgufTensorType, shape: number[], name: string): number {
  const numel = shape.reduce((a, b) => a * b, 1);
  if (type === 'f32') return numel * 4;
  if (type === 'f16') return numel * 2;
  const inner = shape.length === 0 ? 1 : shape[shape.length - 1];
  if (inner % Q8_0_BLOCK !== 0) throw inputError(`gguf tensor ${name}`, `q8_0 needs rows of a multiple of ${Q8_0_BLOCK} values, got ${inner}`);
  return (numel / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES;
}

export function writeTensorData(view: DataView, p: number, type: GgufTensorType, data: Float32Array): void {
  if (type === 'f32') {
    for (let j = 0; j < data.length; j++, p += 4) view.setFloat32(p, data[j], true);
  } else if (type === 'f16') {
    for (let j = 0; j < data.length; j++, p += 2) view.setUint16(p, f32ToF16Bits(data[j]), true);
  } else {
    const q = new Int8Array(Q8_0_BLOCK);
    for (let b = 0; b < data.length; b += Q8_0_BLOCK, p += Q8_0_BLOCK_BYTES) {
      view.setUint16(p, quantizeQ8_0Block(data.subarray(b, b + Q8_0_BLOCK), q), true);
      for (let i = 0; i < Q8_0_BLOCK; i++) view.setInt8(p + 2 + i, q[i]);
    }
  }
}

/** `numel` values of a tensor of `type` stored at `view` (F16 widened, Q8_0 dequantized as d * q). */
export function readTensorData(view: DataView, type: GgufTensorType, numel: number): Float32Array {
  const out = new Float32Array(numel);
  if (type === 'f32') {
    for (let i = 0; i < numel; i++) out[i] = view.getFloat32(i * 4, true);
  } else if (type === 'f16') {
    for (let i = 0; i < numel; i++) out[i] = f16BitsToF32(view.getUint16(i * 2, true));
  } else {
    for (let b = 0; b < numel / Q8_0_BLOCK; b++) {
      const p = b * Q8_0_BLOCK_BYTES;
      const d = f16BitsToF32(view.getUint16(p, true));
      for (let i = 0; i < Q8_0_BLOCK; i++) out[b * Q8_0_BLOCK + i] = d * view.getInt8(p + 2 + i);
    }
  }
  return out;
}
