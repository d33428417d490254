// Lint rules: type-aware, and the layer rule that keeps src/core free of servers, databases and SDKs.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'artifacts/', 'dist/', 'packages/*/dist/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: false, requireDefaultForNonUnion: false },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // Callbacks declared before a subscription exists read the variable only after it is assigned.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      'no-console': 'error',
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                'node:http',
                'node:https',
                'node:net',
                'http',
                'net',
                'fastify',
                '@fastify/*',
                'ws',
                'undici',
                'pg',
                'ioredis',
                'redis',
                'openai',
                'prom-client',
                'node:sqlite',
                'sqlite-vec',
                '**/transports/**',
                '**/retrieval/**',
                '**/providers/**',
                '**/stores/**',
                '**/cli/**',
              ],
              message: 'src/core is the inner layer: it imports no server, database, SDK or adapter.',
            },
          ],
        },
      ],
    },
  },
  {
    // One open function: everything outside src/stores opens the stores with openStores(config), which picks the
    // backend. (src/core has its own import rule above, which already keeps stores out.)
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    ignores: ['src/core/**', 'src/stores/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/stores/sqlite/*', '**/stores/sqlite/**'],
              message: 'Open the stores with openStores(config) from src/stores/open-stores.ts.',
            },
          ],
        },
      ],
    },
  },
  {
    files: [
      'src/cli/**/*.ts',
      'bench/**/*.ts',
      'test/**/*.ts',
      '**/*.test.ts',
      'web/build.ts',
      'web/pack-client.ts',
      'docs/images/*.ts',
    ],
    rules: { 'no-console': 'off' },
  },
  {
    // node:sqlite is synchronous; its stores are async only to honour interfaces a networked backend shares.
    files: ['src/stores/sqlite/**/*.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  { files: ['*.js'], ...tseslint.configs.disableTypeChecked },
  {
    // The examples README includes verbatim: plain JavaScript for Node, linted without type information.
    files: ['examples/**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', console: 'readonly' },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, 'no-console': 'off' },
  },
);
