// `npm test`: starts one embedded stack on free loopback ports (Temporal, Postgres, S3, SFTP), bundles the
// workflows once, runs every test file against those real servers, then stops everything it started.
import { spawn } from 'node:child_process';
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { loadConfig, projectRoot } from '../lib/config/env';
import { settingsToEnv, withoutServerVariables } from '../lib/config/settings';
import { startStack } from '../lib/stack';
import { freePortsEnv } from '../lib/stack/ports';
import { failureConverterPath } from '../lib/temporal/connection';


function testFiles(dir: string, filter: string[]): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) return testFiles(file, filter);
    if (!name.endsWith('.test.ts')) return [];
    return filter.length === 0 || filter.some((f) => path.relative(projectRoot, file).includes(f)) ? [file] : [];
  }).sort();
}

async function main(): Promise<number> {
  const files = testFiles(path.join(projectRoot, 'test'), process.argv.slice(2));
  const dataDir = path.join(projectRoot, '.data', `test-${process.pid}`);
  // Tests always get servers of their own, whatever the developer's environment points at.
  const baseEnv = withoutServerVariables(process.env);
  const config = loadConfig({
    ...baseEnv,
    ETL_DATA_DIR: dataDir,
    ...(await freePortsEnv()),
  });
  const started = Date.now();
  const stack = await startStack(config, { unsafeFast: true, onStep: (m) => console.log(`# ${m}`) });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stop().then(() => process.exit(130)));
  try {
    // The tests run with a payload key (the stack made one), so their workflows encode failures as the workers do.
    const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietLogger,
      failureConverterPath: stack.settings.codec.keys ? failureConverterPath : undefined });
    const bundlePath = path.join(dataDir, 'workflow-bundle.js');
    writeFileSync(bundlePath, bundle.code);
    console.log(`# stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s; ${files.length} test files`);
    const env = { ...baseEnv, ...settingsToEnv(stack.settings), ETL_TEST_WORKFLOW_BUNDLE: bundlePath,
      // Workers the tests spawn serve no metrics unless a test asks (a fixed port would clash between them).
      ETL_METRICS_ADDRESS: 'off',
      ETL_POSTGRES_PORT: String(config.ETL_POSTGRES_PORT) };
    return await new Promise<number>((resolve) => {
      const child = spawn(process.execPath,
        ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=600000', '--test-reporter=spec', ...files],
        { stdio: 'inherit', env, cwd: projectRoot });
      child.on('exit', (code) => resolve(code ?? 1));
    });
  } finally {
    await stop();
  }
}

const quietLogger = {
  log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined,
  warn: (message: string) => console.warn(message), error: (message: string) => console.error(message),
};

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
