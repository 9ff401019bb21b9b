import type { EtlConfig } from '../../lib/config/env';
import { installWorkerLogging, openConfiguredLogFile } from '../../lib/temporal/logging';
import { redactUrl } from '../../lib/io/postgres';
import { settingsToEnv, type Settings } from '../../lib/config/settings';
import { startStack, type Stack } from '../../lib/stack';
import { connectClient } from '../../lib/temporal/connection';
import { applySchedules } from '../../schedules';
import { startWorkers, type RunningWorkers } from '../../workers';
import { say, table } from '../output';
import { reportApplied } from './schedules';

export interface RunningStack {
  stack: Stack;
  /** Absent with `etl dev --no-workers`. */
  workers?: RunningWorkers;
  stop(): Promise<void>;
}

/** The whole embedded stack with workers and schedules, as `etl dev` and `etl demo` use it. */
export async function startEverything(config: EtlConfig, options: { workers?: boolean } = {}): Promise<RunningStack> {
  const stack = await startStack(config, { onStep: say });
  try {
    await openConfiguredLogFile(config);
    let workers: RunningWorkers | undefined;
    // Without workers, no worker runtime either: its log forwarding would keep the process alive after Ctrl-C.
    if (options.workers !== false) {
      installWorkerLogging('WARN', { metricsAddress: config.ETL_METRICS_ADDRESS, forwardCoreLogs: true });
      workers = await startWorkers(stack.settings);
    }
    const client = await connectClient(stack.settings);
    try {
      reportApplied(await applySchedules(client, config), (line) => say(`schedule ${line}`));
    } finally {
      await client.connection.close();
    }
    let stopped = false;
    return {
      stack,
      workers,
      async stop() {
        if (stopped) return;
        stopped = true;
        await workers?.shutdown().catch(() => undefined);
        await stack.stop();
      },
    };
  } catch (error) {
    await stack.stop();
    throw error;
  }
}

export function addresses(settings: Settings): string {
  const rows = [
    ['Temporal', settings.temporal.address, `namespace ${settings.temporal.namespace}`],
    ['Web UI', settings.temporal.webUi ?? '(not known: set TEMPORAL_WEB_UI)', ''],
    ['Codec server', settings.codec.serverUrl ?? (settings.codec.keys ? '(npx etl codec-server)' : '(no key: payloads not encrypted)'),
      settings.codec.keys ? `payloads encrypted with key ${settings.codec.keys.currentKeyId}${settings.codec.keyFile ? ` (${settings.codec.keyFile})` : ''}` : ''],
    ['Postgres (target)', redactUrl(settings.postgres.databaseUrl), 'DATABASE_URL'],
    ['Postgres (source)', redactUrl(settings.postgres.sourceDatabaseUrl), 'SOURCE_DATABASE_URL, read-only user'],
    ['S3', `${settings.s3.endpoint}/${settings.s3.bucket}`, `key ${settings.s3.accessKeyId}`],
    ['SFTP', `${settings.sftp.user}@${settings.sftp.host}:${settings.sftp.port}`, settings.sftp.privateKeyFile ? `key ${settings.sftp.privateKeyFile}` : ''],
  ];
  return table(rows);
}

/**
 * `etl dev`: runs until Ctrl-C, then stops the workers and every server it started. A server of its own that dies
 * meanwhile is started again, with a line saying so. `workers: false` (--no-workers) leaves the workers to `etl worker`.
 */
export async function dev(config: EtlConfig, options: { workers?: boolean } = {}): Promise<number> {
  // Listening before anything starts: a Ctrl-C during start-up still stops what was started.
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => stop());
  const running = await startEverything(config, options);
  say(`\n${addresses(running.stack.settings)}`);
  if (running.workers && config.ETL_METRICS_ADDRESS !== 'off') say(`Worker metrics for Prometheus: http://${config.ETL_METRICS_ADDRESS}/metrics`);
  say('');
  say('To reach these servers from another shell or program, export:');
  say(Object.entries(settingsToEnv(running.stack.settings)).map(([k, v]) => `  ${k}=${v}`).join('\n'));
  if (!running.workers) say('\nNo workers started (--no-workers): run `npx etl worker` in a shell with the environment above.');
  say('\nRunning. Ctrl-C stops everything.');
  running.stack.supervise(say);
  const crashed = running.workers
    ? running.workers.done.then(() => 'workers stopped', (error: Error) => `a worker failed: ${error.message}`)
    : new Promise<string>(() => undefined);
  const reason = await Promise.race([stopped.then(() => undefined), crashed]);
  say(reason ? `${reason}; stopping` : 'stopping...');
  await running.stop();
  say('stopped');
  return reason ? 1 : 0;
}
