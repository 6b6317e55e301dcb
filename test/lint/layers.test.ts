// The layer rule in eslint.config.js: an import that points up or sideways fails lint, one that points
// down passes, for every folder of src/.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ESLint } from 'eslint';

const root = fileURLToPath(new URL('../../../', import.meta.url));

async function layerErrors(eslint: ESLint, file: string, from: string): Promise<string[]> {
  const [result] = await eslint.lintText(`import { x } from '${from}';\nexport const y = x;\n`, { filePath: `${root}src/${file}` });
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

test('lint refuses imports that point up a layer and accepts those that point down', async () => {
  const eslint = new ESLint({ cwd: root });
  const { LAYERS } = (await import(`${root}eslint.config.js`)) as { LAYERS: Record<string, string[]> };
  const folders = Object.keys(LAYERS);
  for (const folder of folders) {
    for (const other of folders.filter((o) => o !== folder)) {
      const errors = await layerErrors(eslint, `${folder}/probe.ts`, `../${other}/index.js`);
      if (LAYERS[folder].includes(other)) assert.deepEqual(errors, [], `${folder} -> ${other} is allowed`);
      else assert.match(errors.join('\n'), new RegExp(`src/${folder}/ may import only`), `${folder} -> ${other} must fail lint`);
    }
  }
  // Deeper files are held to their folder's layer too, and same-named siblings inside a folder are not layers.
  assert.equal((await layerErrors(eslint, 'engine/kernels/probe.ts', '../../train/rl.js')).length, 1);
  assert.deepEqual(await layerErrors(eslint, 'cli/commands/probe.ts', '../engine.js'), []);
  // The cycle this rule was added for: the RL loop must not reach PAV.
  assert.equal((await layerErrors(eslint, 'train/rl.ts', '../pav/rl.js')).length, 1);
});

test('every folder of src/ has a layer', async () => {
  const { readdirSync } = await import('node:fs');
  const { LAYERS } = (await import(`${root}eslint.config.js`)) as { LAYERS: Record<string, string[]> };
  const folders = readdirSync(`${root}src`, { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== 'types').map((d) => d.name);
  assert.deepEqual(folders.filter((f) => !(f in LAYERS)), []);
});
