/**
 * bfloat16: the top 16 bits of a float32 (sign, 8-bit exponent, 7-bit mantissa). Frozen weights of a
 * bf16 checkpoint are held as these bits (a Uint16Array) and widened exactly as kernels read them: a
 * bfloat16 value is a float32 value, so a model held in bf16 computes the same bits as the same
 * checkpoint widened to float32 at load.
 */

/** A weight operand: float32 values, or bfloat16 bits. */
export type WeightArray = Float32Array | Uint16Array;

/** `src` (bfloat16 bits) widened into `dst` (default a new array), exactly. */
export function widenBf16(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return dst;
}

/** `w` as float32: itself, or a widened copy of bfloat16 bits. */
export function asFloat32(w: WeightArray): Float32Array {
  return w instanceof Uint16Array ? widenBf16(w) : w;
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The bfloat16 bits nearest to `x` (round to nearest even; NaN stays NaN). */
export function toBf16Bits(x: number): number {
  scratchF32[0] = x;
  const u = scratchU32[0];
  if (Number.isNaN(x)) return (u >>> 16) | 0x40;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}
