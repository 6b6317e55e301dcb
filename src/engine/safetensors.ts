/**
 * The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
 * length N, N bytes of JSON `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__? }`,
 * then the raw little-endian tensor bytes; offsets are relative to the end of the header.
 *
 * Reading is streaming: only the header is held in memory, and each tensor is read straight from the
 * file into the caller's destination (a view into the engine arena), converting F16/BF16 to float32
 * in small chunks, so a 2 GB checkpoint never exists twice in memory. Writing is float32 only.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { PrlError, inputError } from '../util/errors.js';
import { readJsonFile } from '../util/fs.js';

/** A tensor by name; `model.ts` parameters satisfy this structurally. A Uint16Array holds bfloat16 bits. */
export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array | Uint16Array;
}

/** Bytes per element of every dtype the format defines; only F32, F16 and BF16 can be read. */
const DTYPE_BYTES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
  F8_E4M3: 1, F8_E5M2: 1,
};
const READABLE_DTYPES = new Set(['F32', 'F16', 'BF16']);
/** The reference implementation refuses headers above 100 MB; so do we, before allocating. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** Elements converted per chunk when reading half-precision tensors. */
const CHUNK_ELEMENTS = 1 << 20;

/** Where one tensor lives: `begin`/`end` are absolute byte positions in `path`. */
export interface TensorEntry {
  name: string;
  path: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/** Anything that can fill float32 tensors by name: one safetensors file or a sharded folder. */
export interface TensorSource {
  names(): string[];
  entry(name: string): TensorEntry | undefined;
  /**
   * Reads tensor `name` into `dest` (length must equal the element count): a Float32Array gets float32
   * (F16/BF16 converted exactly), a Uint16Array the bfloat16 bits of a BF16 tensor as stored.
   */
  read(name: string, dest: Float32Array | Uint16Array): void;
  close(): void;
}

function assertLittleEndianHost(): void {
  if (endianness() !== 'LE') throw new PrlError('safetensors: big-endian hosts are not supported');
}

/** Whether `read` can convert tensors of this dtype to float32. */
export function isReadableDtype(dtype: string): boolean {
  return READABLE_DTYPES.has(dtype);
}

export function numElements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** One open safetensors file; the descriptor stays open until `close()`. */
export class SafetensorsFile implements TensorSource {
  readonly path: string;
  readonly metadata: Record<string, string>;
  private readonly entries = new Map<string, TensorEntry>();
  private fd: number;

  /** Opens `path` and validates the header against the file size; errors name the file and tensor. */
  constructor(path: string) {
    assertLittleEndianHost();
    this.path = path;
    try {
      this.fd = openSync(path, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new PrlError(code === 'ENOENT' ? `${path}: no such file` : `${path}: cannot open (${code ?? String(err)})`);
    }
    try {
      this.metadata = this.readHeader();
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  private readHeader(): Record<string, string> {
    const stat = fstatSync(this.fd);
    // A directory opens fine on Linux and fails only at the first read, with EISDIR.
    if (!stat.isFile()) throw inputError(this.path, 'not a file');
    const fileSize = stat.size;
    if (fileSize < 8) throw inputError(this.path, `truncated: ${fileSize} bytes, a safetensors file starts with an 8-byte header length`);
    const lengthBytes = Buffer.alloc(8);
    readSync(this.fd, lengthBytes, 0, 8, 0);
    const headerLength = lengthBytes.readBigUInt64LE(0);
    if (headerLength > BigInt(fileSize - 8)) {
      throw inputError(this.path, `header length ${headerLength} is beyond the file size ${fileSize} (truncated or not a safetensors file)`);
    }
    if (headerLength > BigInt(MAX_HEADER_BYTES)) throw inputError(this.path, `header length ${headerLength} exceeds ${MAX_HEADER_BYTES} bytes`);
    const n = Number(headerLength);
    const headerBytes = Buffer.alloc(n);
    readSync(this.fd, headerBytes, 0, n, 8);
    let header: unknown;
    try {
      header = JSON.parse(headerBytes.toString('utf8'));
    } catch (err) {
      throw inputError(this.path, `header is not valid JSON (${(err as Error).message})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) throw inputError(this.path, 'header is not a JSON object');
    const dataStart = 8 + n;
    const dataSize = fileSize - dataStart;
    let metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        metadata = parseMetadata(value, this.path);
        continue;
      }
      this.entries.set(name, parseEntry(name, value, this.path, dataStart, dataSize));
    }
    return metadata;
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  entry(name: string): TensorEntry | undefined {
    return this.entries.get(name);
  }

  read(name: string, dest: Float32Array | Uint16Array): void {
    const e = this.entries.get(name);
    if (e === undefined) throw inputError(this.path, `no tensor ${name}`);
    readEntry(this.fd, e, dest);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

function parseMetadata(value: unknown, path: string): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw inputError(path, '__metadata__ is not a JSON object');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') throw inputError(path, `__metadata__.${k} is not a string`);
    out[k] = v;
  }
  return out;
}

function parseEntry(name: string, value: unknown, path: string, dataStart: number, dataSize: number): TensorEntry {
  const where = `${path}: tensor ${name}`;
  if (typeof value !== 'object' || value === null) throw new PrlError(`${where}: header entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string') throw new PrlError(`${where}: dtype is missing`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new PrlError(`${where}: shape must be an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
    throw new PrlError(`${where}: data_offsets must be two non-negative integers`);
  }
  const [begin, end] = offsets as number[];
  if (begin > end || end > dataSize) {
    throw new PrlError(`${where}: data_offsets [${begin},${end}] are out of range (the data section has ${dataSize} bytes; truncated file?)`);
  }
  const bytesPerElement = DTYPE_BYTES[dtype];
  if (bytesPerElement !== undefined && end - begin !== numElements(shape as number[]) * bytesPerElement) {
    throw new PrlError(
      `${where}: data_offsets [${begin},${end}] span ${end - begin} bytes, but ${dtype} shape [${(shape as number[]).join(',')}] needs ${numElements(shape as number[]) * bytesPerElement}`,
    );
  }
  return { name, path, dtype, shape: shape as number[], begin: dataStart + begin, end: dataStart + end };
}

/**
 * Reads `e` from `fd` into `dest`: F32 straight into dest's bytes, F16/BF16 through a small scratch buffer;
 * a bfloat16 destination takes a BF16 tensor's bytes as they are.
 */
function readEntry(fd: number, e: TensorEntry, dest: Float32Array | Uint16Array): void {
  const where = `${e.path}: tensor ${e.name}`;
  if (!READABLE_DTYPES.has(e.dtype)) throw new PrlError(`${where}: unsupported dtype ${e.dtype} (supported: F32, F16, BF16)`);
  const n = numElements(e.shape);
  if (dest.length !== n) throw new PrlError(`${where}: has ${n} elements, the destination has ${dest.length}`);
  if (dest instanceof Uint16Array) {
    if (e.dtype !== 'BF16') throw new PrlError(`${where}: is ${e.dtype}; only BF16 tensors are held in bfloat16 (load the model in float32)`);
    readFully(fd, new Uint8Array(dest.buffer, dest.byteOffset, n * 2), e.begin, where);
    return;
  }
  if (e.dtype === 'F32') {
    readFully(fd, new Uint8Array(dest.buffer, dest.byteOffset, n * 4), e.begin, where);
    return;
  }
  const scratch = new Uint16Array(Math.min(n, CHUNK_ELEMENTS));
  const scratchBytes = new Uint8Array(scratch.buffer);
  const bits = new Uint32Array(dest.buffer, dest.byteOffset, n); // dest reinterpreted, for BF16
  for (let start = 0; start < n; start += scratch.length) {
    const count = Math.min(scratch.length, n - start);
    readFully(fd, scratchBytes.subarray(0, count * 2), e.begin + start * 2, where);
    if (e.dtype === 'BF16') {
      // bfloat16 is the top half of a float32.
      for (let i = 0; i < count; i++) bits[start + i] = scratch[i] << 16;
    } else {
      for (let i = 0; i < count; i++) dest[start + i] = halfToFloat(scratch[i]);
    }
  }
}

function readFully(fd: number, into: Uint8Array, position: number, where: string): void {
  let done = 0;
  while (done < into.length) {
    const got = readSync(fd, into, done, into.length - done, position + done);
    if (got === 0) throw new PrlError(`${where}: file ended early (truncated)`);
    done += got;
  }
}

/** IEEE 754 binary16 bits to a number (exact: every half is representable as a float32). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/**
 * A sharded checkpoint: `model.safetensors.index.json` with `weight_map: { tensor: shard file }`.
 * Shards are opened lazily and a tensor listed in the index must be present in its shard.
 */
export class ShardedSafetensors implements TensorSource {
  private readonly shards = new Map<string, SafetensorsFile>();
  private readonly weightMap: Map<string, string>;

  constructor(readonly indexPath: string) {
    const index = readJsonFile(indexPath);
    const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
    if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
      throw inputError(indexPath, 'weight_map is missing or not an object');
    }
    this.weightMap = new Map();
    for (const [name, file] of Object.entries(weightMap as Record<string, unknown>)) {
      if (typeof file !== 'string' || file.includes('/') || file.includes('\\')) {
        throw inputError(indexPath, `weight_map.${name} must be a file name in the same folder`);
      }
      this.weightMap.set(name, file);
    }
  }

  private shard(file: string): SafetensorsFile {
    let shard = this.shards.get(file);
    if (shard === undefined) {
      shard = new SafetensorsFile(join(dirname(this.indexPath), file));
      this.shards.set(file, shard);
    }
    return shard;
  }

  names(): string[] {
    return [...this.weightMap.keys()];
  }

  entry(name: string): TensorEntry | undefined {
    const file = this.weightMap.get(name);
    if (file === undefined) return undefined;
    const e = this.shard(file).entry(name);
    if (e === undefined) throw inputError(join(dirname(this.indexPath), file), `tensor ${name} is listed in ${basename(this.indexPath)} but missing from the shard`);
    return e;
  }

  read(name: string, dest: Float32Array | Uint16Array): void {
    const file = this.weightMap.get(name);
    if (file === undefined) throw inputError(this.indexPath, `no tensor ${name} in weight_map`);
    this.shard(file).read(name, dest);
  }

  close(): void {
    for (const shard of this.shards.values()) shard.close();
    this.shards.clear();
  }
}

/** Opens `dir/model.safetensors`, or the sharded `dir/model.safetensors.index.json` when there is one. */
export function openSafetensorsFolder(dir: string): TensorSource {
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) return new ShardedSafetensors(index);
  return new SafetensorsFile(join(dir, 'model.safetensors'));
}

/** The JSON header for `tensors` (F32, or BF16 for bfloat16 bits) laid out in order, padded with spaces to a multiple of 8 bytes. */
function encodeHeader(tensors: readonly NamedTensor[], metadata: Record<string, string> | undefined): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    if (t.name in header) throw new PrlError(`safetensors: duplicate tensor name ${t.name}`);
    if (numElements(t.shape) !== t.data.length) {
      throw new PrlError(`safetensors: tensor ${t.name} has shape [${t.shape.join(',')}] but ${t.data.length} values`);
    }
    header[t.name] = { dtype: t.data instanceof Uint16Array ? 'BF16' : 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  // Padding keeps the data section 8-byte aligned, as the reference writer does.
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, 0x20);
  json.copy(padded);
  return padded;
}

/**
 * Writes `tensors` (float32 as F32, bfloat16 bits as BF16, as stored) to `path` atomically (temp file, fsync, rename), streaming each tensor's
 * bytes from its own memory so no second copy of the weights is made.
 */
export function writeSafetensors(path: string, tensors: readonly NamedTensor[], metadata?: Record<string, string>): void {
  assertLittleEndianHost();
  const header = encodeHeader(tensors, metadata);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(header.length));
    writeFully(fd, length);
    writeFully(fd, header);
    for (const t of tensors) writeFully(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

function writeFully(fd: number, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
}
