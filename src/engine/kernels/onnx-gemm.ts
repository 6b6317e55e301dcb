/**
 * The smallest ONNX model the native provider needs: one Gemm node, out = op(A) · op(B), written
 * straight as protobuf bytes so that no ONNX toolchain is needed at build or run time.
 *
 * Field numbers follow onnx/onnx.proto (proto2): ModelProto{ir_version=1, graph=7, opset_import=8},
 * GraphProto{node=1, name=2, input=11, output=12}, NodeProto{input=1, output=2, op_type=4, attribute=5},
 * AttributeProto{name=1, f=2, i=3, type=20}, ValueInfoProto{name=1, type=2}, TypeProto{tensor_type=1},
 * TypeProto.Tensor{elem_type=1, shape=2}, TensorShapeProto{dim=1}, Dimension{dim_value=1, dim_param=2},
 * GraphProto.initializer=5, TensorProto{dims=1, data_type=2, name=8, external_data=13, data_location=14},
 * StringStringEntryProto{key=1, value=2}.
 */

/** A protobuf message under construction: fields appended in order as (tag, wire type, payload). */
class ProtoWriter {
  private readonly bytes: number[] = [];

  /** Varint field (wire type 0): ints, enums. */
  varint(field: number, value: number): this {
    this.writeVarint(field << 3);
    this.writeVarint(value);
    return this;
  }

  /** 32-bit float field (wire type 5). */
  float(field: number, value: number): this {
    this.writeVarint((field << 3) | 5);
    const word = new Uint8Array(new Float32Array([value]).buffer);
    for (const b of word) this.bytes.push(b);
    return this;
  }

  /** Length-delimited field (wire type 2): strings and nested messages. */
  bytesField(field: number, payload: Uint8Array): this {
    this.writeVarint((field << 3) | 2);
    this.writeVarint(payload.length);
    for (const b of payload) this.bytes.push(b);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytesField(field, new TextEncoder().encode(value));
  }

  message(field: number, inner: ProtoWriter): this {
    return this.bytesField(field, inner.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }

  private writeVarint(value: number): void {
    // Only non-negative values below 2^53 occur here (dims, enums, flags), so plain arithmetic is exact.
    let v = value;
    while (v >= 0x80) {
      this.bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.bytes.push(v);
  }
}

const ONNX_FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTRIBUTE_FLOAT = 1; // AttributeProto.AttributeType.FLOAT
const ATTRIBUTE_INT = 2;
const IR_VERSION = 8; // ONNX 1.10+, read by every ORT since 1.10
const OPSET = 13; // Gemm-13: transA, transB, alpha (C is optional and unused here)

/** A float32 tensor input/output; a dim given as a string is symbolic (any size at run time). */
function tensorValueInfo(name: string, dims: (number | string)[]): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new ProtoWriter().varint(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().varint(1, ONNX_FLOAT).message(2, shape);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensorType));
}

export interface GemmSpec {
  /** op(A) is Aᵀ when transA: A is stored (K, M) instead of (M, K). */
  transA: boolean;
  /** op(B) is Bᵀ when transB: B is stored (N, K) instead of (K, N). */
  transB: boolean;
  /** Columns of the output. */
  N: number;
  /** The reduction length. */
  K: number;
  /**
   * B is a constant initializer rather than an input: its floats are not in the model bytes but in the
   * external data file CONSTANT_B_PATH, handed to the session from memory (session option
   * `externalData`), so that onnxruntime pre-packs it once at load ("constant initializer pre-packing").
   */
  constantB?: boolean;
}

/** The external-data name of a constant B (a name inside the session's in-memory files, never opened on disk). */
export const CONSTANT_B_PATH = 'prl_constant_b.bin';

/** TensorProto of a float32 initializer whose `byteLength` bytes are at offset 0 of external file `path`. */
function externalInitializer(name: string, dims: number[], path: string, byteLength: number): ProtoWriter {
  const tensor = new ProtoWriter();
  for (const d of dims) tensor.varint(1, d);
  tensor.varint(2, ONNX_FLOAT).string(8, name);
  const entry = (key: string, value: string) => new ProtoWriter().string(1, key).string(2, value);
  tensor.message(13, entry('location', path)).message(13, entry('offset', '0')).message(13, entry('length', String(byteLength)));
  return tensor.varint(14, 1); // DataLocation.EXTERNAL
}

/**
 * ONNX bytes of Y (M, N) = op(A) · op(B), with M symbolic so that one session serves every row count
 * (prefill lengths, batch sizes). Inputs are named A and B (B an initializer when `constantB`); the output Y.
 */
export function gemmModel(spec: GemmSpec): Uint8Array {
  const { transA, transB, N, K, constantB = false } = spec;
  const node = new ProtoWriter().string(1, 'A').string(1, 'B').string(2, 'Y').string(4, 'Gemm');
  node.message(5, new ProtoWriter().string(1, 'transA').varint(3, transA ? 1 : 0).varint(20, ATTRIBUTE_INT));
  node.message(5, new ProtoWriter().string(1, 'transB').varint(3, transB ? 1 : 0).varint(20, ATTRIBUTE_INT));
  node.message(5, new ProtoWriter().string(1, 'alpha').float(2, 1).varint(20, ATTRIBUTE_FLOAT));

  const graph = new ProtoWriter().message(1, node).string(2, 'prl_gemm');
  graph.message(11, tensorValueInfo('A', transA ? [K, 'M'] : ['M', K]));
  const bDims = transB ? [N, K] : [K, N];
  // A constant B is an initializer and NOT a graph input: one listed as an input could be overridden
  // at run time, and onnxruntime pre-packs only initializers that cannot be.
  if (constantB) graph.message(5, externalInitializer('B', bDims, CONSTANT_B_PATH, N * K * 4));
  else graph.message(11, tensorValueInfo('B', bDims));
  graph.message(12, tensorValueInfo('Y', ['M', N]));

  const model = new ProtoWriter().varint(1, IR_VERSION).string(2, 'prl');
  model.message(7, graph);
  model.message(8, new ProtoWriter().string(1, '').varint(2, OPSET));
  return model.finish();
}
