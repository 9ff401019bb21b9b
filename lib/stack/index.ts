import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { EncryptionCodec, newCodecKey } from '../temporal/codec';
import { startCodecServer, type RunningCodecServer } from '../temporal/codec-server';
import type { EtlConfig } from '../config/env';
import { embeddedCodecKeyFile, resolveSettings, type Settings } from '../config/settings';
import { assertPortFree, isAlive, reapStale, type ManagedProcess } from './processes';
import { claimRelocatedData, postgresDataLocation, startEmbeddedPostgres } from './postgres';
import { startS3Server, startSftpServer } from './storage';
import { startTemporalDevServer } from './temporal';
import { rcloneBinary, temporalCli } from './tools';

export interface Stack {
  settings: Settings;
  /** The Web UI's codec server, which runs inside this process (it ends with it). */
  codecServer?: RunningCodecServer;
  /** Stops what this stack started, newest first. */
  stop(): Promise<void>;
  /**
   * Watches the servers this stack started: one that died is started again on its port and data, and `report` says
   * so in one line (or that it could not be). Until stop().
   */
  supervise(report: (line: string) => void): void;
}

/** A server of the stack, and how to start it again. */
interface Server {
  what: string;
  proc: ManagedProcess;
  start: () => Promise<ManagedProcess>;
  givenUp?: boolean;
}

export interface StackOptions {
  /** Throw-away clusters for tests: faster Postgres settings. */
  unsafeFast?: boolean;
  onStep?: (message: string) => void;
}

/**
 * Starts the embedded servers for every part the configuration does not point elsewhere:
 * Temporal dev server, Postgres, an S3-compatible server and an SFTP server, all on loopback.
 */
export async function startStack(config: EtlConfig, options: StackOptions = {}): Promise<Stack> {
  const step = options.onStep ?? (() => undefined);
  const settings = resolveSettings(config);
  if (settings.temporal.embedded && !settings.codec.keys && !config.ETL_CODEC_KEY_FILE) {
    const keyFile = createEmbeddedCodecKey(config.ETL_DATA_DIR);
    step(`generated a payload encryption key in ${keyFile}; keep it to read these histories`);
    Object.assign(settings, resolveSettings(config));
  }
  const runDir = path.join(config.ETL_DATA_DIR, 'run');
  const started: Array<Pick<ManagedProcess, 'stop'>> = [];
  const servers: Server[] = [];
  /** Starts a server and keeps it for stop() and supervise(), whichever process it is by then. */
  const server = async (what: string, start: () => Promise<ManagedProcess>) => {
    const entry: Server = { what, proc: await start(), start };
    servers.push(entry);
    started.push({ stop: () => entry.proc.stop() });
  };
  let codecServer: RunningCodecServer | undefined;
  let watching: NodeJS.Timeout | undefined;
  let checking: Promise<void> = Promise.resolve();
  let stopping = false;
  const stop = async () => {
    stopping = true;
    clearInterval(watching);
    await checking;
    for (const proc of started.reverse()) await proc.stop();
  };
  try {
    // Servers of ours left by a crash are reaped by their PID files before the ports are checked.
    if (settings.postgres.embedded) {
      step(`starting Postgres on 127.0.0.1:${config.ETL_POSTGRES_PORT}`);
      const location = postgresDataLocation(config.ETL_DATA_DIR);
      if (location.closedFolder) {
        step(`Postgres data in ${location.dir}: the postgres user it runs as cannot enter ${location.closedFolder} (removed with the stack's data)`);
        claimRelocatedData(config.ETL_DATA_DIR, location);
      }
      await server('Postgres', async () => startEmbeddedPostgres({
        dataDir: location.dir,
        runDir,
        port: await checkedPort(runDir, 'postgres', config.ETL_POSTGRES_PORT, 'Postgres', 'ETL_POSTGRES_PORT'),
        unsafeFast: options.unsafeFast,
      }));
    }
    if (settings.temporal.embedded && settings.codec.keys) {
      step(`starting the codec server on ${settings.codec.serverUrl} (the Web UI decodes payloads through it)`);
      await assertPortFree(config.ETL_CODEC_PORT, 'the codec server', 'ETL_CODEC_PORT');
      codecServer = await startCodecServer({
        codec: new EncryptionCodec(settings.codec.keys),
        port: config.ETL_CODEC_PORT,
        allowedOrigins: webUiOrigins(settings.temporal.webUi!),
        authToken: settings.codec.authToken,
      });
      started.push(codecServer);
    }
    if (settings.temporal.embedded) {
      const cli = await temporalCli(config.TEMPORAL_CLI);
      step(`starting the Temporal dev server on ${settings.temporal.address} (Web UI ${settings.temporal.webUi})`);
      await server('the Temporal dev server', async () => {
        await checkedPort(runDir, 'temporal', config.ETL_TEMPORAL_UI_PORT, 'the Temporal Web UI', 'ETL_TEMPORAL_UI_PORT');
        return startTemporalDevServer({
          cli,
          dataDir: config.ETL_DATA_DIR,
          runDir,
          port: await checkedPort(runDir, 'temporal', config.ETL_TEMPORAL_PORT, 'Temporal', 'ETL_TEMPORAL_PORT'),
          uiPort: config.ETL_TEMPORAL_UI_PORT,
          namespace: settings.temporal.namespace,
          codecEndpoint: settings.codec.serverUrl,
        });
      });
    }
    if (settings.s3.embedded || settings.sftp.embedded) {
      const rclone = await rcloneBinary();
      if (settings.s3.embedded) {
        step(`starting S3 on ${settings.s3.endpoint} (bucket ${settings.s3.bucket})`);
        await server('S3', async () => startS3Server({
          rclone, dataDir: config.ETL_DATA_DIR, runDir, bucket: settings.s3.bucket,
          port: await checkedPort(runDir, 's3', config.ETL_S3_PORT, 'S3', 'ETL_S3_PORT'),
        }));
      }
      if (settings.sftp.embedded) {
        step(`starting SFTP on ${settings.sftp.host}:${settings.sftp.port} (user ${settings.sftp.user})`);
        await server('SFTP', async () => startSftpServer({
          rclone, dataDir: config.ETL_DATA_DIR, runDir,
          port: await checkedPort(runDir, 'sftp', config.ETL_SFTP_PORT, 'SFTP', 'ETL_SFTP_PORT'),
        }));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const check = async (report: (line: string) => void) => {
    for (const entry of servers) {
      if (stopping || entry.givenUp || isAlive(entry.proc.pid)) continue;
      const { pid, logFile } = entry.proc;
      report(`${entry.what} (pid ${pid}) stopped unexpectedly; restarting it (its log: ${logFile})`);
      try {
        entry.proc = await entry.start();
        report(`${entry.what} restarted (pid ${entry.proc.pid})`);
      } catch (error) {
        entry.givenUp = true;
        report(`${entry.what} could not be restarted: ${(error as Error).message}; the pipelines that need it fail until etl dev is started again`);
      }
    }
  };
  const supervise = (report: (line: string) => void) => {
    let busy = false;
    // Not unref'd: with --no-workers, this watch is what keeps `etl dev` running.
    watching = setInterval(() => {
      if (busy) return;
      busy = true;
      checking = check(report).finally(() => (busy = false));
    }, 1000);
  };
  return { settings, codecServer, stop, supervise };
}

/** A port must be free once our own leftovers are gone; a stranger on it is a clear, fixable error. */
async function checkedPort(runDir: string, name: string, port: number, what: string, envVar: string): Promise<number> {
  await reapStale(runDir, name, name === 'postgres' ? 'SIGINT' : 'SIGTERM');
  await assertPortFree(port, what, envVar);
  return port;
}

/** The embedded stack's key, made once on its first start and kept under the data folder (owner-only). */
function createEmbeddedCodecKey(dataDir: string): string {
  const keyFile = embeddedCodecKeyFile(dataDir);
  if (existsSync(keyFile)) return keyFile;
  mkdirSync(dataDir, { recursive: true });
  const keyId = `embedded-${new Date().toISOString().slice(0, 10)}`;
  writeFileSync(keyFile, `${JSON.stringify({ ETL_CODEC_KEYS: `${keyId}:${newCodecKey()}`, ETL_CODEC_KEY_ID: keyId }, null, 2)}\n`, { mode: 0o600 });
  return keyFile;
}

/** The UI's origin as configured, plus the same port under the other loopback name a browser may use. */
export function webUiOrigins(webUi: string): string[] {
  const url = new URL(webUi);
  const loopback = ['127.0.0.1', 'localhost'].includes(url.hostname);
  const hosts = loopback ? ['127.0.0.1', 'localhost'] : [url.hostname];
  return hosts.map((host) => `${url.protocol}//${host}${url.port ? `:${url.port}` : ''}`);
}
