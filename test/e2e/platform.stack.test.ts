import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, it } from '@jest/globals';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import SftpClient from 'ssh2-sftp-client';
import { ConfigError, loadConfig, projectRoot } from '../../lib/config/env';
import { withoutServerVariables } from '../../lib/config/settings';
import { createS3Client } from '../../lib/io/s3';
import { startStack, type Stack } from '../../lib/stack';
import { freePortsEnv } from '../../lib/stack/ports';
import { isAlive } from '../../lib/stack/processes';
import { EMBEDDED_PASSWORD, EMBEDDED_USER, embeddedUrl, postgresDataLocation, removeStackData, startEmbeddedPostgres } from '../../lib/stack/postgres';
import { NEWEST_POSTGRES_MAJOR, postgresBinaries } from '../../lib/stack/tools';
import { createPool } from '../../lib/io/postgres';
import { settings } from '../helpers/env';

describe('the embedded S3 and SFTP servers', () => {
  it('S3 stores and returns an object in the configured bucket', async () => {
    const s3 = createS3Client(settings.s3);
    try {
      await s3.send(new PutObjectCommand({ Bucket: settings.s3.bucket, Key: 'raw/test/hello.csv', Body: 'id;nome\n1;Ana\n' }));
      const got = await s3.send(new GetObjectCommand({ Bucket: settings.s3.bucket, Key: 'raw/test/hello.csv' }));
      assert.equal(await got.Body?.transformToString(), 'id;nome\n1;Ana\n');
    } finally {
      s3.destroy();
    }
  });

  it('SFTP takes the generated key, and a file put there can be listed and read back', async () => {
    const sftp = new SftpClient();
    await sftp.connect({ host: settings.sftp.host, port: settings.sftp.port, username: settings.sftp.user,
      privateKey: readFileSync(settings.sftp.privateKeyFile!) });
    try {
      await sftp.mkdir('campanhas', true);
      await sftp.put(Buffer.from('telefone;nome\n11999990000;Ana\n'), 'campanhas/mailing_teste.csv');
      const names = (await sftp.list('campanhas')).map((f) => f.name);
      assert.ok(names.includes('mailing_teste.csv'));
      assert.equal(String(await sftp.get('campanhas/mailing_teste.csv')), 'telefone;nome\n11999990000;Ana\n');
    } finally {
      await sftp.end();
    }
  });
});

describe('starting the stack again after a crash', () => {
  const dataDir = mkdtempSync(path.join(projectRoot, '.data', 'crash-'));
  const stacks: Stack[] = [];
  afterAll(async () => {
    for (const stack of stacks) await stack.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const configWith = async (extra: Record<string, string> = {}) => loadConfig({
    ...withoutServerVariables(process.env),
    ETL_DATA_DIR: dataDir,
    ...(await freePortsEnv()),
    ...extra,
  });
  const pids = () => ['postgres', 'temporal', 's3', 'sftp'].map((name) =>
    JSON.parse(readFileSync(path.join(dataDir, 'run', `${name}.pid`), 'utf8')).pid as number);

  it('reaps the servers a killed run left behind and a stale Postgres lock, then starts cleanly', async () => {
    const config = await configWith();
    // The process that starts them dies without stopping them (kill -9, a closed terminal).
    const crashed = await startStack(config, { unsafeFast: true });
    // The codec server lives in that process and would have died with it.
    await crashed.codecServer?.stop();
    const leftovers = pids();
    const second = await startStack(config, { unsafeFast: true });
    stacks.push(second);
    for (const pid of leftovers) assert.equal(isAlive(pid), false, `leftover server ${pid} was stopped`);
    await second.stop();
    stacks.pop();
    // A Postgres lock file naming a process that is gone, as after a power cut.
    writeFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), '999999\n/tmp\n');
    const third = await startStack(config, { unsafeFast: true });
    stacks.push(third);
    assert.ok(pids().every(isAlive));
  });

  it('a port taken by another program is a clear error, and what was started is stopped again', async () => {
    await stacks.pop()?.stop();
    const stranger = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => stranger.once('listening', resolve));
    const port = (stranger.address() as net.AddressInfo).port;
    try {
      const error = await startStack(await configWith({ ETL_S3_PORT: String(port) }), { unsafeFast: true }).catch((e: unknown) => e);
      assert.ok(error instanceof ConfigError);
      assert.equal(error.message, `port ${port} for S3 is taken by another program: stop it, or set ETL_S3_PORT to a free port`);
      for (const name of ['postgres', 'temporal']) {
        assert.equal(existsSync(path.join(dataDir, 'run', `${name}.pid`)), false, `${name}, started before the clash, was stopped`);
      }
    } finally {
      stranger.close();
    }
  });
});

describe('a project in a folder the postgres user cannot enter (a clone under /root, mode 700, run as root)', () => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'etl-private-home-'));
  const dataDir = path.join(home, 'clone', '.data');
  afterAll(() => {
    removeStackData(dataDir);
    rmSync(home, { recursive: true, force: true });
  });

  it('keeps the Postgres data under the system temp folder, says where in one line, finds it again, removes it with the stack\'s data', async () => {
    if (os.userInfo().uid !== 0) {
      console.log('skipped: only root runs Postgres as another user (postgres), which a private folder keeps out');
      return;
    }
    chmodSync(home, 0o700);
    // Only Postgres is embedded here: the other servers are the test stack's.
    const env: NodeJS.ProcessEnv = { ...process.env, ETL_DATA_DIR: dataDir, ETL_POSTGRES_PORT: (await freePortsEnv()).ETL_POSTGRES_PORT };
    for (const name of ['DATABASE_URL', 'SOURCE_DATABASE_URL', 'SOURCE_ADMIN_DATABASE_URL']) delete env[name];
    const config = loadConfig(env);
    const steps: string[] = [];
    const first = await startStack(config, { unsafeFast: true, onStep: (m) => steps.push(m) });
    const moved = path.join(os.tmpdir(), `etl-postgres-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`, 'postgres');
    try {
      assert.deepEqual(steps.filter((m) => m.startsWith('Postgres data in')),
        [`Postgres data in ${moved}: the postgres user it runs as cannot enter ${home} (removed with the stack's data)`]);
      const db = createPool(first.settings.postgres.databaseUrl, 1);
      await db.query('CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)').finally(() => db.end());
    } finally {
      await first.stop();
    }
    const second = await startStack(config, { unsafeFast: true });
    try {
      const db = createPool(second.settings.postgres.databaseUrl, 1);
      assert.deepEqual((await db.query('SELECT n FROM kept').finally(() => db.end())).rows, [{ n: 7 }], 'the same data on the next start');
    } finally {
      await second.stop();
    }
    removeStackData(dataDir);
    assert.equal(existsSync(moved), false);
  });

  it('runs Postgres from a copy of its programs when they are in that folder too (the clone\'s node_modules), removed with the stack\'s data', async () => {
    if (os.userInfo().uid !== 0) {
      console.log('skipped: only root runs Postgres as another user (postgres), which a private folder keeps out');
      return;
    }
    chmodSync(home, 0o700);
    // The programs as a clone under /root has them: inside the folder closed to the postgres user.
    const found = await postgresBinaries(NEWEST_POSTGRES_MAJOR);
    const native = path.join(home, 'clone', 'node_modules', 'native');
    cpSync(path.dirname(path.dirname(found.postgres)), native, { recursive: true, verbatimSymlinks: true });
    const binaries = { major: found.major, postgres: path.join(native, 'bin', 'postgres'), initdb: path.join(native, 'bin', 'initdb') };
    const location = postgresDataLocation(dataDir);
    const port = Number((await freePortsEnv()).ETL_POSTGRES_PORT);
    const server = await startEmbeddedPostgres({ dataDir: location.dir, runDir: path.join(dataDir, 'run'), port, unsafeFast: true, other: { binaries } });
    try {
      assert.ok(!readFileSync(`/proc/${server.pid}/cmdline`, 'utf8').startsWith(native), 'not run from the closed folder');
      const db = createPool(embeddedUrl(port, EMBEDDED_USER, EMBEDDED_PASSWORD, 'postgres'), 1);
      assert.deepEqual((await db.query('SELECT 1 AS n').finally(() => db.end())).rows, [{ n: 1 }]);
    } finally {
      await server.stop();
    }
    removeStackData(dataDir);
    assert.equal(existsSync(path.dirname(location.dir)), false, 'the copy goes with the relocated data');
  });
});
