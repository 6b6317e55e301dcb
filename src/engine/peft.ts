/**
 * LoRA adapters as PEFT folders, both ways: `adapter_config.json` plus `adapter_model.safetensors`,
 * the layout that PEFT (`PeftModel.from_pretrained`), vLLM and SGLang load as they are.
 *
 * Tensor names are the PEFT model's state-dict names with the adapter name removed:
 * `base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight` (r, in) and `...lora_B.weight`
 * (out, r). Folders written elsewhere may keep the adapter name (`lora_A.default.weight`) and store
 * F32, F16 or BF16. Options prl cannot reproduce exactly (per-module ranks, DoRA, trained biases,
 * extra saved modules) are refused by field name rather than loaded into different numbers.
 */
import { join } from 'node:path';
import { PrlError, describeValue } from '../util/errors.js';
import { readJsonFile, writeFolderAtomic, writeJsonAtomic } from '../util/fs.js';
import type { ModelConfig } from './config.js';
import { LORA_MODULES, LORA_TARGETS, LoraAdapter, type LoraOptions, type LoraTarget } from './lora.js';
import type { Arena } from './memory.js';
import { SafetensorsFile, isReadableDtype, writeSafetensors } from './safetensors.js';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
/** The prefix PEFT's `PeftModelForCausalLM` puts before the HF model's own parameter names. */
const PEFT_PREFIX = 'base_model.model.';

/** HF module name (PEFT `target_modules` entry) of each target. */
const MODULE_NAMES = Object.fromEntries(LORA_TARGETS.map((t) => [t, LORA_MODULES[t].split('.')[1]])) as Record<LoraTarget, string>;

/** Writes `adapter` as a PEFT folder; the folder is built beside `dir` and renamed into place. */
export function savePeftAdapter(dir: string, adapter: LoraAdapter, options: { baseModel?: string } = {}): void {
  const { rank, alpha, rslora, targets } = adapter.config;
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: options.baseModel ?? null,
    revision: null,
    r: rank,
    lora_alpha: alpha,
    use_rslora: rslora,
    target_modules: targets.map((t) => MODULE_NAMES[t]),
    lora_dropout: 0,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    use_dora: false,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
  };
  writeFolderAtomic(dir, (tmp) => {
    writeJsonAtomic(join(tmp, ADAPTER_CONFIG), config);
    const tensors = adapter.parameters().map((p) => ({ name: PEFT_PREFIX + p.name, shape: p.shape, data: p.data }));
    writeSafetensors(join(tmp, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
  });
}

/** What an adapter_config.json asks for, validated; `baseModel` is its base_model_name_or_path. */
export interface PeftAdapterConfig {
  options: LoraOptions & { alpha: number; targets: LoraTarget[] };
  baseModel: string | undefined;
}

/** Reads and validates `dir/adapter_config.json`; errors name the file and field. */
export function readPeftConfig(dir: string): PeftAdapterConfig {
  const path = join(dir, ADAPTER_CONFIG);
  const json = readJsonFile(path);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new PrlError(`${path}: not a JSON object`);
  const c = json as Record<string, unknown>;
  const bad = (field: string, problem: string): PrlError => new PrlError(`${path}: ${field}: ${problem}`);

  if (c.peft_type !== 'LORA') throw bad('peft_type', `expected "LORA", got ${describeValue(c.peft_type)}`);
  const rank = c.r;
  if (typeof rank !== 'number' || !Number.isSafeInteger(rank) || rank <= 0) throw bad('r', `expected a positive integer, got ${describeValue(rank)}`);
  const alpha = c.lora_alpha ?? 8; // PEFT's LoraConfig default
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0) throw bad('lora_alpha', `expected a positive number, got ${describeValue(alpha)}`);
  const rslora = c.use_rslora ?? false;
  if (typeof rslora !== 'boolean') throw bad('use_rslora', `expected true or false, got ${describeValue(rslora)}`);

  const refuseUnless = (field: string, ok: (v: unknown) => boolean, why: string): void => {
    if (c[field] !== undefined && c[field] !== null && !ok(c[field])) throw bad(field, `${describeValue(c[field])} is not supported (${why})`);
  };
  const emptyObject = (v: unknown) => typeof v === 'object' && v !== null && Object.keys(v).length === 0;
  refuseUnless('rank_pattern', emptyObject, 'prl gives every module the same rank');
  refuseUnless('alpha_pattern', emptyObject, 'prl gives every module the same alpha');
  refuseUnless('bias', (v) => v === 'none', 'adapters with trained biases');
  refuseUnless('use_dora', (v) => v === false, 'DoRA');
  refuseUnless('fan_in_fan_out', (v) => v === false, 'Conv1D-style transposed weights');
  refuseUnless('modules_to_save', (v) => Array.isArray(v) && v.length === 0, 'fully trained extra modules');
  refuseUnless('layers_to_transform', (v) => Array.isArray(v) && v.length === 0, 'adapters on some layers only');

  const byModule = new Map(LORA_TARGETS.map((t) => [MODULE_NAMES[t], t]));
  const modules = c.target_modules === 'all-linear' ? [...byModule.keys()] : c.target_modules;
  if (!Array.isArray(modules) || modules.length === 0 || modules.some((m) => typeof m !== 'string')) {
    throw bad('target_modules', `expected a non-empty list of module names or "all-linear", got ${describeValue(c.target_modules)}`);
  }
  const targets = (modules as string[]).map((m) => {
    const target = byModule.get(m);
    if (!target) throw bad('target_modules', `${JSON.stringify(m)} is not a linear module of a Llama/Qwen2 layer (expected some of ${[...byModule.keys()].join(', ')})`);
    return target;
  });
  const baseModel = typeof c.base_model_name_or_path === 'string' ? c.base_model_name_or_path : undefined;
  return { options: { rank, alpha, rslora, targets }, baseModel };
}

/**
 * Loads the PEFT folder `dir` as an adapter for a model of `model` config, allocated in `arena`. Every
 * tensor must be there with the shape the base implies; tensors prl would not use are refused by name.
 */
export function loadPeftAdapter(dir: string, model: ModelConfig, arena: Arena, layerSegments?: readonly number[]): LoraAdapter {
  const { options } = readPeftConfig(dir);
  const path = join(dir, ADAPTER_WEIGHTS);
  const file = new SafetensorsFile(path);
  try {
    // File tensor name -> the adapter's parameter name, accepting PEFT's in-memory ".default" names.
    const fileNames = new Map<string, string>();
    for (const name of file.names()) {
      const canonical = name.startsWith(PEFT_PREFIX) ? name.slice(PEFT_PREFIX.length).replace(/\.lora_([AB])\.default\.weight$/, '.lora_$1.weight') : name;
      fileNames.set(canonical, name);
    }
    const adapter = new LoraAdapter(model, arena, options, layerSegments);
    for (const p of adapter.parameters()) {
      const name = fileNames.get(p.name);
      const entry = name === undefined ? undefined : file.entry(name);
      if (!entry) throw new PrlError(`${path}: tensor ${PEFT_PREFIX}${p.name} is missing`);
      if (entry.shape.join(',') !== p.shape.join(',')) {
        throw new PrlError(`${path}: tensor ${entry.name} has shape [${entry.shape.join(', ')}], the base model needs [${p.shape.join(', ')}] (rank ${options.rank})`);
      }
      if (!isReadableDtype(entry.dtype)) throw new PrlError(`${path}: tensor ${entry.name} has unsupported dtype ${entry.dtype} (supported: F32, F16, BF16)`);
      file.read(entry.name, p.data);
      fileNames.delete(p.name);
    }
    const [extra] = fileNames.values();
    if (extra !== undefined) throw new PrlError(`${path}: tensor ${extra} is not a LoRA matrix of this base model and adapter_config.json (unused tensors are refused, not ignored)`);
    return adapter;
  } finally {
    file.close();
  }
}

