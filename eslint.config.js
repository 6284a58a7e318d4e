// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers, top to bottom: a module may import from its own layer and the ones below it, never from one above.
 *   http (transport) → schema (GraphQL) | jobs (scheduler) → billing → domain → swarm | storage | killbill | s3 | db | crypto | events
 * `config`, `errors`, `logger`, `deps` and `observability` are shared by every layer.
 */
const above = {
  'src/domain/**': ['http', 'schema', 'jobs', 'billing'],
  'src/billing/**': ['http', 'schema', 'jobs'],
  'src/schema/**': ['http', 'jobs'],
  'src/jobs/**': ['http', 'schema'],
  'src/swarm/**': ['http', 'schema', 'jobs', 'billing', 'domain'],
  'src/storage/**': ['http', 'schema', 'jobs', 'billing', 'domain'],
  'src/killbill/**': ['http', 'schema', 'jobs', 'billing', 'domain'],
  'src/s3/**': ['http', 'schema', 'jobs', 'billing', 'domain'],
  'src/db/**': ['http', 'schema', 'jobs', 'billing', 'domain', 'swarm'],
  'src/crypto/**': ['http', 'schema', 'jobs', 'billing', 'domain', 'swarm', 'db'],
  'src/events/**': ['http', 'schema', 'jobs', 'billing', 'domain', 'swarm'],
};

const layerRules = Object.entries(above).map(([files, layers]) => ({
  files: [files],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: layers.map((layer) => ({
          group: [`../${layer}/*`, `../../${layer}/*`],
          message: `${files.split('/')[1]} sits below ${layer}: move what it needs down a layer, or pass it in.`,
        })),
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/images/**', '.local/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's describe/it return promises the runner itself awaits.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...layerRules,
  {
    files: ['test/**', 'bench/**'],
    rules: {
      // Tests read GraphQL results as the untyped JSON they are.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Polling helpers and fakes take async callbacks, whether or not a given one awaits.
      '@typescript-eslint/require-await': 'off',
    },
  },
  // Kysely's own advice: migrations take Kysely<any>, since they must not depend on today's schema types.
  { files: ['migrations/**'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
  { files: ['eslint.config.js'], extends: [tseslint.configs.disableTypeChecked] },
);
