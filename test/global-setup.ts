// jest's globalSetup: starts one embedded stack on free loopback ports (Temporal, Postgres, S3, SFTP, and the
// codec server), bundles the workflows once into a file, and hands both to the test files through process.env
// (jest runs the files in this same process, one at a time: maxWorkers 1). test/global-teardown.ts stops it all.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { loadConfig, projectRoot } from '../lib/config/env';
import { settingsToEnv, withoutServerVariables } from '../lib/config/settings';
import { startStack, type Stack } from '../lib/stack';
import { freePortsEnv } from '../lib/stack/ports';
import {
  EMBEDDED_PASSWORD, EMBEDDED_USER, READER_PASSWORD, READER_USER, SOURCE_DATABASE, TARGET_DATABASE, embeddedUrl, removeStackData,
  startEmbeddedPostgres,
} from '../lib/stack/postgres';
import { freePort, type ManagedProcess } from '../lib/stack/processes';
import { NEWEST_POSTGRES_MAJOR, localePath, postgresBinaries } from '../lib/stack/tools';
import { failureConverterPath } from '../lib/temporal/connection';
import { quietBundlerLogger } from '../lib/temporal/logging';

/** What globalTeardown stops: jest gives globalSetup and globalTeardown the same global object. */
export interface TestStackHandle {
  stop(): Promise<void>;
  /** The signal handlers that stop the stack on Ctrl-C, removed again by the teardown. */
  signalHandlers: Array<[NodeJS.Signals, () => void]>;
}

declare global {
  var etlTestStack: TestStackHandle | undefined;
}

export default async function globalSetup(): Promise<void> {
  const dataDir = path.join(projectRoot, '.data', `test-${process.pid}`);
  // Tests always get servers of their own, whatever the developer's environment points at.
  const baseEnv = withoutServerVariables(process.env);
  const ports = await freePortsEnv();
  const started = Date.now();
  // jest prints its own progress on this line; our steps start on the next one.
  process.stdout.write('\n');
  let stack: Stack | undefined;
  const servers: ManagedProcess[] = [];
  let stopping: Promise<void> | undefined;
  const stop = () => stopping ??= (async () => {
    await stack?.stop();
    for (const server of servers.reverse()) await server.stop();
    removeStackData(dataDir);
  })();
  const signalHandlers = (['SIGINT', 'SIGTERM'] as const).map((signal): [NodeJS.Signals, () => void] =>
    [signal, () => void stop().finally(() => process.exit(130))]);
  for (const [signal, handler] of signalHandlers) process.once(signal, handler);
  globalThis.etlTestStack = { stop, signalHandlers };

  try {
    const postgres = await startSourceAndTarget(dataDir, Number(ports.ETL_POSTGRES_PORT), servers);
    const config = loadConfig({ ...baseEnv, ETL_DATA_DIR: dataDir, ...ports, ...postgres });
    stack = await startStack(config, { unsafeFast: true, onStep: (m) => console.log(`# ${m}`) });
    // The tests run with a payload key (the stack made one), so their workflows encode failures as the workers do.
    const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietBundlerLogger,
      failureConverterPath: stack.settings.codec.keys ? failureConverterPath : undefined });
    const bundlePath = path.join(dataDir, 'workflow-bundle.js');
    writeFileSync(bundlePath, bundle.code);
    console.log(`# stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    await stop();
    throw error;
  }

  // The test files run in this process after globalSetup, and each file's `process.env` is a copy of this one
  // made when the file starts: what is set here is what they read (test/helpers/env.ts).
  for (const name of Object.keys(process.env)) if (!(name in baseEnv)) delete process.env[name];
  Object.assign(process.env, baseEnv, settingsToEnv(stack.settings), {
    ETL_TEST_WORKFLOW_BUNDLE: path.join(dataDir, 'workflow-bundle.js'),
    // Workers the tests spawn serve no metrics unless a test asks (a fixed port would clash between them).
    ETL_METRICS_ADDRESS: 'off',
    ETL_POSTGRES_PORT: ports.ETL_POSTGRES_PORT,
  });
}

/**
 * The tests' Postgres is two servers, as users run it: the source in en_US.UTF-8 and the target in C, both of major
 * ETL_TEST_POSTGRES_MAJOR (default: the newest, the package.json dependency's; CI runs the oldest too, .ci/run).
 */
async function startSourceAndTarget(dataDir: string, targetPort: number, servers: ManagedProcess[]): Promise<Record<string, string>> {
  const major = Number(process.env.ETL_TEST_POSTGRES_MAJOR ?? NEWEST_POSTGRES_MAJOR);
  const binaries = await postgresBinaries(major);
  const sourceLocale = 'en_US.UTF-8';
  const localeDir = await localePath(sourceLocale);
  const runDir = path.join(dataDir, 'run');
  const sourcePort = await freePort();
  console.log(`# starting Postgres ${major}: target (C) on 127.0.0.1:${targetPort}, source (${sourceLocale}) on 127.0.0.1:${sourcePort}`);
  for (const [name, port, locale] of [['postgres-target', targetPort, 'C'], ['postgres-source', sourcePort, sourceLocale]] as const) {
    servers.push(await startEmbeddedPostgres({
      name, dataDir: path.join(dataDir, name), runDir, port, unsafeFast: true,
      other: { binaries, locale, localePath: locale === 'C' ? undefined : localeDir },
    }));
  }
  return {
    DATABASE_URL: embeddedUrl(targetPort, EMBEDDED_USER, EMBEDDED_PASSWORD, TARGET_DATABASE),
    SOURCE_DATABASE_URL: embeddedUrl(sourcePort, READER_USER, READER_PASSWORD, SOURCE_DATABASE),
    SOURCE_ADMIN_DATABASE_URL: embeddedUrl(sourcePort, EMBEDDED_USER, EMBEDDED_PASSWORD, SOURCE_DATABASE),
  };
}
