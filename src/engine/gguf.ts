/**
 * GGUF v3, the file format of llama.cpp (spec: ggml docs/gguf.md). Little-endian throughout:
 *
 *   magic "GGUF" | version u32 | tensor_count u64 | kv_count u64
 *   kv_count x (key: string, value_type u32, value)            strings are u64 length + UTF-8 bytes
 *   tensor_count x (name: string, n_dims u32, ne[n_dims] u64, ggml_type u32, offset u64)
 *   padding to general.alignment | tensor data, each tensor starting at a multiple of the alignment
 *
 * `ne` lists dimensions fastest-first (ggml order), the reverse of a row-major shape: an HF Linear weight of
 * shape (out, in) is stored with ne = [in, out]. Tensor data is written as F32, F16 or Q8_0 (ggml's block
 * formats, see `ggml-common.h` / `quantize_row_q8_0_ref`); the reader reports the other ggml types by number
 * so that `prl` can inspect any file, and dequantizes the three it writes.
 */
import { inputError } from '../util/errors.js';
import { GGML_TYPE_F16, GGML_TYPE_F32, GGML_TYPE_ID, GGML_TYPE_Q8_0, readTensorData, tensorBytes, writeTensorData, type GgufTensorType } from './ggml-types.js';

export { GGML_TYPE_F16, GGML_TYPE_F32, GGML_TYPE_Q8_0, Q8_0_BLOCK, f16BitsToF32, f32ToF16Bits, quantizeQ8_0Block, type GgufTensorType } from './ggml-types.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** GGUF metadata value types, by the number the format stores. */
export const GGUF_VALUE_TYPES = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

export type GgufScalarType = Exclude<keyof typeof GGUF_VALUE_TYPES, 'array'>;
/** 64-bit integers are bigints so that they round-trip exactly. */
export type GgufScalar = number | bigint | boolean | string;

export type GgufValue =
  | { type: GgufScalarType; value: GgufScalar }
  | { type: 'array'; itemType: GgufScalarType; value: GgufScalar[] };

export interface GgufTensorInput {
  name: string;
  shape: number[]; // row-major, outermost first (as in safetensors / PyTorch)
  data: Float32Array;
  /** Storage type, default f32. q8_0 needs the innermost dimension to be a multiple of 32. */
  type?: GgufTensorType;
}

export interface GgufTensorInfo {
  name: string;
  shape: number[]; // row-major, outermost first (reversed from the file's ne)
  ggmlType: number;
  offset: number; // bytes from the start of the data section
}

export interface GgufHeader {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  dataOffset: number; // absolute file offset of the data section
}

const TYPE_BY_NUMBER = new Map<number, keyof typeof GGUF_VALUE_TYPES>(
  Object.entries(GGUF_VALUE_TYPES).map(([name, id]) => [id, name as keyof typeof GGUF_VALUE_TYPES]),
);

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** Grows as it is written; GGUF headers are small, tensor data is copied in once at the end. */
class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.reserve(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
  }
  i8(v: number): void {
    this.reserve(1);
    this.view.setInt8(this.length, v);
    this.length += 1;
  }
  u16(v: number): void {
    this.reserve(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
  }
  i16(v: number): void {
    this.reserve(2);
    this.view.setInt16(this.length, v, true);
    this.length += 2;
  }
  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  i32(v: number): void {
    this.reserve(4);
    this.view.setInt32(this.length, v, true);
    this.length += 4;
  }
  f32(v: number): void {
    this.reserve(4);
    this.view.setFloat32(this.length, v, true);
    this.length += 4;
  }
  f64(v: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, v, true);
    this.length += 8;
  }
  u64(v: number | bigint): void {
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  i64(v: number | bigint): void {
    this.reserve(8);
    this.view.setBigInt64(this.length, BigInt(v), true);
    this.length += 8;
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.bytes(b);
  }
  padTo(alignment: number): void {
    const target = alignUp(this.length, alignment);
    this.reserve(target - this.length);
    this.buf.fill(0, this.length, target);
    this.length = target;
  }
  result(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

function writeScalar(w: ByteWriter, type: GgufScalarType, value: GgufScalar, key: string): void {
  const bad = (): never => {
    throw inputError(`gguf metadata ${key}`, `value ${String(value)} is not a valid ${type}`);
  };
  switch (type) {
    case 'string':
      if (typeof value !== 'string') bad();
      return w.string(value as string);
    case 'bool':
      if (typeof value !== 'boolean') bad();
      return w.u8(value ? 1 : 0);
    case 'uint64':
    case 'int64':
      if (typeof value !== 'number' && typeof value !== 'bigint') bad();
      return type === 'uint64' ? w.u64(value as number | bigint) : w.i64(value as number | bigint);
  }
  if (typeof value !== 'number') bad();
  const v = value as number;
  switch (type) {
    case 'uint8':
      return w.u8(v);
    case 'int8':
      return w.i8(v);
    case 'uint16':
      return w.u16(v);
    case 'int16':
      return w.i16(v);
    case 'uint32':
      return w.u32(v);
    case 'int32':
      return w.i32(v);
    case 'float32':
      return w.f32(v);
    case 'float64':
      return w.f64(v);
  }
}

/**
 * Serialises a GGUF v3 file. `general.alignment` is taken from the metadata when present (and must be a
 * uint32 power of two), otherwise 32 is used and NOT added; callers that want it recorded put it in
 * `metadata` themselves. Tensors are written in the given order, each padded to the alignment.
 */
export function writeGguf(metadata: Map<string, GgufValue>, tensors: GgufTensorInput[]): Uint8Array {
  const alignmentValue = metadata.get('general.alignment');
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (alignmentValue !== undefined) {
    if (alignmentValue.type !== 'uint32' || typeof alignmentValue.value !== 'number') {
      throw inputError('gguf metadata general.alignment', 'must be a uint32');
    }
    alignment = alignmentValue.value;
    if (alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
      throw inputError('gguf metadata general.alignment', `${alignment} is not a power of two`);
    }
  }
  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(tensors.length);
  w.u64(metadata.size);
  for (const [key, entry] of metadata) {
    w.string(key);
    w.u32(GGUF_VALUE_TYPES[entry.type]);
    if (entry.type === 'array') {
      w.u32(GGUF_VALUE_TYPES[entry.itemType]);
      w.u64(entry.value.length);
      for (const item of entry.value) writeScalar(w, entry.itemType, item, key);
    } else {
      writeScalar(w, entry.type, entry.value, key);
    }
  }
  const seen = new Set<string>();
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    if (seen.has(t.name)) throw inputError(`gguf tensor ${t.name}`, 'appears twice');
    seen.add(t.name);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel !== t.data.length) {
      throw inputError(`gguf tensor ${t.name}`, `shape [${t.shape.join(', ')}] needs ${numel} values, got ${t.data.length}`);
    }
    w.string(t.name);
    w.u32(t.shape.length);
    for (let d = t.shape.length - 1; d >= 0; d--) w.u64(t.shape[d]);
    const type = t.type ?? 'f32';
    w.u32(GGML_TYPE_ID[type]);
    w.u64(offset);
    offsets.push(offset);
    offset = alignUp(offset + tensorBytes(type, t.shape, t.name), alignment);
  }
  w.padTo(alignment);
  const dataStart = w.length;
  const out = new Uint8Array(dataStart + offset);
  out.set(w.result());
  const view = new DataView(out.buffer);
  tensors.forEach((t, i) => writeTensorData(view, dataStart + offsets[i], t.type ?? 'f32', t.data));
  return out;
}

/** Sequential little-endian reader that names the file and offset when the bytes run out. */
class ByteReader {
  pos = 0;
  private readonly view: DataView;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly source: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(n: number, what: string): void {
    if (this.pos + n > this.bytes.length) {
      throw inputError(this.source, `truncated GGUF: needed ${n} bytes for ${what} at offset ${this.pos}`);
    }
  }
  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.pos++);
  }
  i8(what: string): number {
    this.need(1, what);
    return this.view.getInt8(this.pos++);
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  i16(what: string): number {
    this.need(2, what);
    const v = this.view.getInt16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  i32(what: string): number {
    this.need(4, what);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  f32(what: string): number {
    this.need(4, what);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }
  f64(what: string): number {
    this.need(8, what);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  u64(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  i64(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigInt64(this.pos, true);
    this.pos += 8;
    return v;
  }
  /** Refuses `n` items of at least `bytesEach` bytes when fewer bytes are left, so a claimed count allocates nothing. */
  items(n: number, bytesEach: number, what: string): void {
    this.need(n * bytesEach, what);
  }
  /** A u64 that must fit a JS number (counts, lengths, offsets). */
  size(what: string): number {
    const v = this.u64(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw inputError(this.source, `${what} ${v} is too large`);
    return Number(v);
  }
  string(what: string): string {
    const n = this.size(`${what} length`);
    this.need(n, what);
    const s = Buffer.from(this.bytes.buffer, this.bytes.byteOffset + this.pos, n).toString('utf8');
    this.pos += n;
    return s;
  }
}

function readScalar(r: ByteReader, type: GgufScalarType, what: string): GgufScalar {
  switch (type) {
    case 'uint8':
      return r.u8(what);
    case 'int8':
      return r.i8(what);
    case 'uint16':
      return r.u16(what);
    case 'int16':
      return r.i16(what);
    case 'uint32':
      return r.u32(what);
    case 'int32':
      return r.i32(what);
    case 'float32':
      return r.f32(what);
    case 'float64':
      return r.f64(what);
    case 'bool':
      return r.u8(what) !== 0;
    case 'string':
      return r.string(what);
    case 'uint64':
      return r.u64(what);
    case 'int64':
      return r.i64(what);
  }
}

/** Bytes each value takes at least (a string: its u64 length). */
const SCALAR_MIN_BYTES: Record<GgufScalarType, number> = {
  uint8: 1, int8: 1, bool: 1, uint16: 2, int16: 2, uint32: 4, int32: 4, float32: 4, uint64: 8, int64: 8, float64: 8, string: 8,
};

function scalarType(id: number, source: string, what: string): GgufScalarType {
  const name = TYPE_BY_NUMBER.get(id);
  if (name === undefined || name === 'array') throw inputError(source, `${what}: unknown or nested value type ${id}`);
  return name;
}

/**
 * Parses the header of a GGUF file (v2 or v3): metadata, tensor infos, alignment and where the data section
 * starts. `source` names the file in error messages.
 */
export function readGgufHeader(bytes: Uint8Array, source = 'gguf'): GgufHeader {
  const r = new ByteReader(bytes, source);
  const magic = r.u32('magic');
  if (magic !== GGUF_MAGIC) throw inputError(source, `not a GGUF file (magic 0x${magic.toString(16)})`);
  const version = r.u32('version');
  if (version !== 2 && version !== 3) throw inputError(source, `unsupported GGUF version ${version}`);
  const tensorCount = r.size('tensor count');
  const kvCount = r.size('metadata count');
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = r.string(`metadata key ${i}`);
    const typeId = r.u32(`type of ${key}`);
    if (typeId === GGUF_VALUE_TYPES.array) {
      const itemType = scalarType(r.u32(`item type of ${key}`), source, key);
      const n = r.size(`length of ${key}`);
      r.items(n, SCALAR_MIN_BYTES[itemType], `${n} items of ${key}`);
      const value: GgufScalar[] = new Array<GgufScalar>(n);
      for (let j = 0; j < n; j++) value[j] = readScalar(r, itemType, `${key}[${j}]`);
      metadata.set(key, { type: 'array', itemType, value });
    } else {
      const type = scalarType(typeId, source, key);
      metadata.set(key, { type, value: readScalar(r, type, key) });
    }
  }
  const alignmentEntry = metadata.get('general.alignment');
  const alignment =
    alignmentEntry !== undefined && typeof alignmentEntry.value === 'number' ? alignmentEntry.value : GGUF_DEFAULT_ALIGNMENT;
  if (alignment <= 0 || !Number.isInteger(alignment) || (alignment & (alignment - 1)) !== 0) {
    throw inputError(source, `general.alignment ${alignment} is not a power of two`);
  }
  const tensors: GgufTensorInfo[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = r.string(`tensor name ${i}`);
    const nDims = r.u32(`dimension count of ${name}`);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) ne.push(r.size(`dimension ${d} of ${name}`));
    const ggmlType = r.u32(`type of ${name}`);
    const offset = r.size(`offset of ${name}`);
    if (offset % alignment !== 0) throw inputError(source, `tensor ${name}: offset ${offset} is not aligned to ${alignment}`);
    tensors.push({ name, shape: ne.reverse(), ggmlType, offset });
  }
  return { version, metadata, tensors, alignment, dataOffset: alignUp(r.pos, alignment) };
}

/** The values of an F32 tensor, copied out of a GGUF file's bytes. */
export function readGgufTensorF32(bytes: Uint8Array, header: GgufHeader, name: string, source = 'gguf'): Float32Array {
  const info = header.tensors.find((t) => t.name === name);
  if (info === undefined) throw inputError(source, `no tensor ${name}`);
  if (info.ggmlType !== GGML_TYPE_F32) throw inputError(source, `tensor ${name} has ggml type ${info.ggmlType}, not F32`);
  const numel = info.shape.reduce((a, b) => a * b, 1);
  const start = header.dataOffset + info.offset;
  if (start + numel * 4 > bytes.length) throw inputError(source, `tensor ${name} runs past the end of the file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, numel * 4);
  const out = new Float32Array(numel);
  for (let i = 0; i < numel; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** The values of an F32, F16 or Q8_0 tensor, dequantized (d * q for Q8_0) out of a GGUF file's bytes. */
export function readGgufTensor(bytes: Uint8Array, header: GgufHeader, name: string, source = 'gguf'): Float32Array {
  const info = header.tensors.find((t) => t.name === name);
  if (info === undefined) throw inputError(source, `no tensor ${name}`);
  if (info.ggmlType === GGML_TYPE_F32) return readGgufTensorF32(bytes, header, name, source);
  const type = info.ggmlType === GGML_TYPE_F16 ? 'f16' : info.ggmlType === GGML_TYPE_Q8_0 ? 'q8_0' : undefined;
  if (type === undefined) throw inputError(source, `tensor ${name} has ggml type ${info.ggmlType}; prl reads F32, F16 and Q8_0`);
  const size = tensorBytes(type, info.shape, name);
  const start = header.dataOffset + info.offset;
  if (start + size > bytes.length) throw inputError(source, `tensor ${name} runs past the end of the file`);
  return readTensorData(new DataView(bytes.buffer, bytes.byteOffset + start, size), type, info.shape.reduce((a, b) => a * b, 1));
}
