/** @jest-config-loader esbuild-register */
// jest reads this TypeScript file through esbuild-register (the docblock above); the tests themselves are
// compiled by @swc/jest. `npm test -- <part of a path>` runs some files only: the file names start with their
// pipeline (test/workflows/sales-warehouse.crash.test.ts), so `npm test -- sales-warehouse` runs one pipeline.
import type { Config } from 'jest';

const config: Config = {
  // jest's node environment, with Node's fetch dispatcher shared (see the file).
  testEnvironment: '<rootDir>/test/jest-environment.ts',
  // The source folders are roots too, so that coverage lists the files no test loaded (at 0 %).
  roots: ['<rootDir>/test', '<rootDir>/lib', '<rootDir>/workflows', '<rootDir>/activities', '<rootDir>/workers',
    '<rootDir>/schedules', '<rootDir>/cli'],
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022', transform: { useDefineForClassFields: true } },
      // import() stays import(), as tsc leaves it (module node16): the ESM-only packages (hyparquet, Postgres's
      // binaries) are loaded as ES modules, which jest can do with Node's --experimental-vm-modules (package.json).
      module: { type: 'commonjs', ignoreDynamic: true },
    }],
  },
  // One stack for the whole run (Temporal, Postgres, S3, SFTP) and one workflow bundle, made before the first file.
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  // Each file ends by shutting down its own Temporal native runtime (see the file).
  setupFilesAfterEnv: ['<rootDir>/test/setup-after-env.ts'],
  // One file at a time, in jest's own process: the tests start workers and servers on a 2-core machine, and
  // globalSetup's environment reaches them as it is.
  maxWorkers: 1,
  // The pipelines run for real against real servers (a worker killed, a heartbeat timeout): up to minutes.
  testTimeout: 600_000,
  // jest's own report, then one plain closing line (`jest: N passed, N failed`) for CI.
  reporters: ['default', '<rootDir>/test/plain-summary-reporter.cjs'],
  // `npm test -- --coverage`: jest's default (istanbul counters added to swc's output, mapped back to the
  // TypeScript through swc's source maps). V8's own coverage took 17 min against 7: in one process that
  // outlives 40 files, each file took longer than the last.
  collectCoverageFrom: ['{lib,workflows,activities,workers,schedules,cli}/**/*.ts'],
  coverageDirectory: '<rootDir>/.data/coverage',
  coverageReporters: ['text-summary', 'html', 'lcov'],
};

export default config;
