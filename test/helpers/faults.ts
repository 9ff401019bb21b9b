// Fault injection: servers of a test's own (Postgres, S3, SFTP) that it may crash and start again without touching
// the shared test stack, and the real `etl worker` command in its own process, pointed at them.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type pg from 'pg';
import { projectRoot } from '../../lib/config/env';
import { settingsToEnv, type Settings } from '../../lib/config/settings';
import { createPool } from '../../lib/io/postgres';
import { findPipeline } from '../../lib/pipelines';
import { connectClient } from '../../lib/temporal/connection';
import { EMBEDDED_PASSWORD, EMBEDDED_USER, READER_PASSWORD, READER_USER, SOURCE_DATABASE, TARGET_DATABASE, embeddedUrl, startEmbeddedPostgres } from '../../lib/stack/postgres';
import { freePort, isAlive, type ManagedProcess } from '../../lib/stack/processes';
import { startS3Server, startSftpServer } from '../../lib/stack/storage';
import { rcloneBinary } from '../../lib/stack/tools';
import { settings as sharedSettings, uniqueId } from './env';

type ServerName = 'postgres' | 's3' | 'sftp';

export interface PrivateServers {
  /** The shared Temporal, and these servers for everything else. */
  settings: Settings;
  /** Kills the server the way a crash does (Postgres: immediate shutdown, so crash recovery runs at its next start). */
  crash(name: ServerName): Promise<void>;
  /** Starts it again on the same port and data. */
  start(name: ServerName): Promise<void>;
  stop(): Promise<void>;
}

export async function startPrivateServers(label: string, names: ServerName[] = ['postgres', 's3', 'sftp']): Promise<PrivateServers> {
  const dataDir = path.join(sharedSettings.dataDir, `faults-${label}-${process.pid}`);
  const runDir = path.join(dataDir, 'run');
  mkdirSync(runDir, { recursive: true });
  const ports = { postgres: await freePort(), s3: await freePort(), sftp: await freePort() };
  const rclone = await rcloneBinary();
  const starters: Record<ServerName, () => Promise<ManagedProcess>> = {
    // Durable settings (not the test stack's synchronous_commit=off): a crash must keep what was committed, as in production.
    postgres: () => startEmbeddedPostgres({ dataDir: path.join(dataDir, 'postgres'), runDir, port: ports.postgres }),
    s3: () => startS3Server({ rclone, dataDir, runDir, port: ports.s3, bucket: sharedSettings.s3.bucket }),
    sftp: () => startSftpServer({ rclone, dataDir, runDir, port: ports.sftp }),
  };
  const running = new Map<ServerName, ManagedProcess>();
  const start = async (name: ServerName) => {
    running.set(name, await starters[name]());
  };
  await Promise.all(names.map(start));
  // A test run that dies (a crashed worker it did not survive, a timeout) must not leave these servers behind.
  const reap = () => {
    for (const proc of running.values()) if (isAlive(proc.pid)) process.kill(proc.pid, 'SIGKILL');
  };
  process.once('exit', reap);
  // The servers not started here are the shared stack's.
  const settings: Settings = {
    ...sharedSettings,
    postgres: !names.includes('postgres') ? sharedSettings.postgres : {
      databaseUrl: embeddedUrl(ports.postgres, EMBEDDED_USER, EMBEDDED_PASSWORD, TARGET_DATABASE),
      sourceDatabaseUrl: embeddedUrl(ports.postgres, READER_USER, READER_PASSWORD, SOURCE_DATABASE),
      sourceAdminUrl: embeddedUrl(ports.postgres, EMBEDDED_USER, EMBEDDED_PASSWORD, SOURCE_DATABASE),
      embedded: false,
    },
    s3: !names.includes('s3') ? sharedSettings.s3 : { ...sharedSettings.s3, endpoint: `http://127.0.0.1:${ports.s3}` },
    sftp: !names.includes('sftp') ? sharedSettings.sftp
      : { ...sharedSettings.sftp, port: ports.sftp, privateKeyFile: path.join(dataDir, 'keys', 'etl_user_ed25519') },
  };
  return {
    settings,
    start,
    async crash(name) {
      const proc = running.get(name);
      if (!proc) return;
      running.delete(name);
      // SIGQUIT is Postgres's immediate shutdown: no checkpoint, crash recovery at the next start (unlogged tables
      // are emptied then), as after a power cut. The others die at once.
      process.kill(proc.pid, name === 'postgres' ? 'SIGQUIT' : 'SIGKILL');
      while (isAlive(proc.pid)) await sleep(20);
    },
    async stop() {
      process.removeListener('exit', reap);
      for (const proc of running.values()) await proc.stop();
      running.clear();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface FaultStack {
  servers: PrivateServers;
  /** The `etl worker` process; a test that kills it puts the next one here. */
  worker: WorkerProcess;
  /** The settings the worker runs with (the servers', plus what the test added). */
  workerSettings: Settings;
  client: Client;
  /** The source database as its owner, and the target. */
  sourceAdmin: pg.Pool;
  target: pg.Pool;
  /** Starts a run of `workflowType` on its pipeline's task queue, with an id of its own (`idPrefix`-...). */
  start(workflowType: string, idPrefix: string, input: unknown): Promise<WorkflowHandle>;
  /** Terminates the runs it started that still run (left by a failed assertion, they would go to the next file's worker), kills the worker, stops the servers. */
  close(): Promise<void>;
}

/**
 * What an outage test needs: servers of its own (`names`), a client of the shared Temporal, pools on the source and
 * target, and the real `etl worker` in its own process with `withSettings` of the servers' settings, once it has
 * migrated the target.
 */
export async function openFaultStack(label: string, names: ServerName[], withSettings: (settings: Settings) => Settings = (s) => s): Promise<FaultStack> {
  const servers = await startPrivateServers(label, names);
  const workerSettings = withSettings(servers.settings);
  const started: string[] = [];
  const stack: FaultStack = {
    servers,
    workerSettings,
    worker: spawnWorker(workerSettings),
    client: await connectClient(servers.settings),
    sourceAdmin: createPool(servers.settings.postgres.sourceAdminUrl),
    target: createPool(servers.settings.postgres.databaseUrl),
    async start(workflowType, idPrefix, input) {
      const workflowId = uniqueId(idPrefix);
      started.push(workflowId);
      return stack.client.workflow.start(workflowType, { taskQueue: findPipeline(workflowType).taskQueue, workflowId, args: [input] });
    },
    async close() {
      for (const id of started) await stack.client.workflow.getHandle(id).terminate('test over').catch(() => undefined);
      stack.worker.kill('SIGKILL');
      await stack.client.connection.close();
      await stack.sourceAdmin.end();
      await stack.target.end();
      await servers.stop();
    },
  };
  await stack.worker.orDeath(waitForTargetTables(stack.target, ['etl_control']));
  return stack;
}

export interface WorkerProcess extends ChildProcess {
  output(): string;
  /** `promise`, or a rejection naming the worker's death and its last output, whichever comes first. */
  orDeath<T>(promise: Promise<T>): Promise<T>;
}

/** `etl worker` in a process of its own, with these servers' settings: it can die, or be proven not to have. */
export function spawnWorker(settings: Settings): WorkerProcess {
  let output = '';
  const child = spawn(process.execPath, [path.join(projectRoot, 'bin/etl.js'), 'worker'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...settingsToEnv(settings), LOG_LEVEL: 'warn' },
  });
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const died = new Promise<never>((_, reject) => child.once('exit', (code, signal) =>
    reject(new Error(`the worker process died (exit ${code ?? signal}):\n${output.slice(-3000)}`))));
  died.catch(() => undefined);
  // A failed run is reported with its whole cause chain (the activity's own message is what tells why).
  const explained = <T>(promise: Promise<T>) => promise.catch((error: Error) => {
    const chain: string[] = [];
    for (let e: unknown = error; e instanceof Object && chain.length < 6; e = (e as Error).cause) chain.push(String((e as Error).message));
    throw new Error(chain.join(' <- '));
  });
  return Object.assign(child, { output: () => output, orDeath: <T>(promise: Promise<T>) => Promise.race([explained(promise), died]) });
}

/** Waits until some statement waits for a lock on the table named `relname` (so a crash lands mid-statement). */
export async function waitForLockWait(db: pg.Pool, relname: string): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    const { rowCount } = await db.query(`SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE NOT l.granted AND c.relname = $1`, [relname]);
    if (rowCount) return;
    await sleep(100);
  }
  throw new Error(`nothing waited for a lock on ${relname}`);
}

/** Holds an exclusive advisory lock on a connection of its own (release(true) ends it), for statements to wait on. */
export async function holdAdvisoryLock(db: pg.Pool, key: number): Promise<pg.PoolClient> {
  const holder = await db.connect();
  holder.on('error', () => undefined); // its server may be crashed under it
  await holder.query('SELECT pg_advisory_lock($1)', [key]);
  return holder;
}

/** Waits until some statement waits for the advisory lock `key` (so a crash or a kill lands mid-statement). */
export async function waitForAdvisoryLockWait(db: pg.Pool, key: number): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    const { rowCount } = await db.query(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1`, [key]);
    if (rowCount) return;
    await sleep(100);
  }
  throw new Error(`nothing waited for the advisory lock ${key}`);
}

/** Waits until the worker has migrated the target (it does at its start): tests lock or alter its tables. */
export async function waitForTargetTables(db: pg.Pool, tables: string[]): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    const { rows } = await db.query('SELECT bool_and(to_regclass(t) IS NOT NULL) AS ready FROM unnest($1::text[]) t', [tables]);
    if (rows[0].ready) return;
    await sleep(100);
  }
  throw new Error(`the worker did not create ${tables.join(', ')}`);
}

/** Polls a run's progress query until `step` is reached (or the run ends). */
export async function waitForStep(handle: WorkflowHandle, step: string): Promise<string> {
  let current = '';
  for (let i = 0; i < 1200 && current !== step; i++) {
    await sleep(100);
    try {
      current = ((await handle.query('progress')) as { step: string }).step;
    } catch {
      current = '';
    }
  }
  return current;
}

/**
 * Waits until an activity of the run has failed an attempt and waits for its next one (its last failure matching
 * `reason`), and returns that failure's message; or returns undefined if the run closed first.
 */
export async function waitForFailedAttempt(handle: WorkflowHandle, reason: RegExp): Promise<string | undefined> {
  for (let i = 0; i < 1200; i++) {
    const { raw, status } = await handle.describe();
    const failed = raw.pendingActivities?.find((a) => (a.attempt ?? 1) > 1 && reason.test(a.lastFailure?.message ?? ''));
    if (failed) return failed.lastFailure!.message!;
    if (status.name !== 'RUNNING') return undefined;
    await sleep(100);
  }
  throw new Error(`no attempt failed with ${reason}`);
}

/** Keeps `name` down until `ms` have passed since `downSince`, then starts it again on the same port and data. */
export async function restoreAfter(servers: PrivateServers, name: ServerName, downSince: number, ms: number): Promise<void> {
  await sleep(Math.max(0, downSince + ms - Date.now()));
  await servers.start(name);
}

/**
 * `promise` (a run's result), or a rejection once `ms` have passed since `since` (when the fault began) without it
 * settling: a run riding out a fault ends within the outage plus its retries' backoff and heartbeat timeout, and a
 * run that hangs (a step waiting forever on a lock or a dead connection) fails here rather than at jest's timeout.
 * A generous bound, not a check of speed.
 */
export async function endsWithin<T>(promise: Promise<T>, since: number, ms: number): Promise<T> {
  const bound = new AbortController();
  const late = sleep(Math.max(0, since + ms - Date.now()), undefined, { signal: bound.signal }).then(() => {
    throw new Error(`the run did not end within ${Math.round(ms / 1000)} s of the fault`);
  }, () => undefined as never);
  try {
    return await Promise.race([promise, late]);
  } finally {
    bound.abort();
  }
}
