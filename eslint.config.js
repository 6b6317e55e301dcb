import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

/**
 * The layers of src/ (docs/design.md "Layers"): each folder may import only the folders listed here.
 * A wrong-layer import fails `npm run lint`; test/lint/layers.test.ts checks that it does.
 */
export const LAYERS = {
  util: [],
  algos: ['util'],
  engine: ['util'],
  policy: ['util', 'engine'],
  verify: ['util'],
  tasks: ['util', 'algos', 'engine', 'verify'],
  train: ['util', 'algos', 'engine', 'tasks', 'verify', 'policy'],
  eval: ['util', 'algos', 'engine', 'tasks', 'verify', 'policy'],
  serve: ['util', 'engine', 'policy'],
  pav: ['util', 'algos', 'engine', 'tasks', 'verify', 'policy', 'train'],
  report: ['util'],
  dashboard: ['util', 'report'],
  reproduce: ['util', 'algos', 'engine', 'tasks', 'verify', 'policy', 'train', 'eval', 'pav', 'report'],
  cli: ['util', 'algos', 'engine', 'tasks', 'verify', 'policy', 'train', 'eval', 'serve', 'pav', 'report', 'reproduce', 'dashboard'],
};

const layerRules = Object.entries(LAYERS).map(([folder, allowed]) => {
  const forbidden = Object.keys(LAYERS).filter((other) => other !== folder && !allowed.includes(other));
  return {
    files: [`src/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbidden.length === 0 ? [] : [
            {
              regex: `^(\\.\\./)+(${forbidden.join('|')})/`,
              message: `src/${folder}/ may import only ${allowed.length ? allowed.join(', ') : 'nothing from other folders'} (docs/design.md "Layers").`,
            },
          ],
        },
      ],
    },
  };
});

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', 'assembly/', 'runs/', '.tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  ...layerRules,
);
