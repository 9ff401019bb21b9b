import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, it } from '@jest/globals';
import { projectRoot } from '../../lib/config/env';
import { withoutServerVariables } from '../../lib/config/settings';
import { freePortsEnv } from '../../lib/stack/ports';
import { canConnect, isAlive, reapStale } from '../../lib/stack/processes';

describe('npx etl dev', () => {
  const dataDir = mkdtempSync(path.join(projectRoot, '.data', 'dev-'));
  let running: ChildProcess | undefined;
  afterAll(async () => {
    // A failed assertion leaves `etl dev` running: stop it, or this file never ends.
    if (running && running.exitCode === null && running.signalCode === null) running.kill('SIGKILL');
    // If the test failed half-way, the servers it left are ours: stop them by their PID files.
    for (const name of ['temporal', 's3', 'sftp']) await reapStale(path.join(dataDir, 'run'), name);
    await reapStale(path.join(dataDir, 'run'), 'postgres', 'SIGINT');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts the stack without workers (--no-workers), restarts a server of its own that died, and Ctrl-C stops every server it started', async () => {
    const ports = await freePortsEnv();
    const child = spawn(process.execPath, [path.join(projectRoot, 'bin/etl.js'), 'dev', '--no-workers'], {
      env: { ...withoutServerVariables(process.env), ...ports, ETL_DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running = child;
    let stderr = '';
    child.stdout.resume();
    const exited = new Promise<string>((resolve) => child.on('exit', (code, signal) => resolve(`code ${code}, signal ${signal}`)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`etl dev did not start:\n${stderr}`)), 120_000);
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
        if (stderr.includes('Ctrl-C stops everything')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    assert.match(stderr, new RegExp(`Web UI\\s+http://127\\.0\\.0\\.1:${ports.ETL_TEMPORAL_UI_PORT}`));
    assert.match(stderr, new RegExp(`Postgres \\(source\\)\\s+postgres://etl_reader:\\*\\*\\*@127\\.0\\.0\\.1:${ports.ETL_POSTGRES_PORT}/etl_source`));
    assert.match(stderr, /schedule incremental-sync-daily: created/);
    // Payload encryption is on: a key made once under the data folder, and the Web UI's codec server answering.
    const keyFile = path.join(dataDir, 'codec-keys.json');
    assert.match(stderr, new RegExp(`Codec server\\s+http://127\\.0\\.0\\.1:${ports.ETL_CODEC_PORT}\\s+payloads encrypted with key embedded-`));
    assert.equal(statSync(keyFile).mode & 0o777, 0o600, 'only its owner reads the key file');
    const uiOrigin = `http://127.0.0.1:${ports.ETL_TEMPORAL_UI_PORT}`;
    const preflight = await fetch(`http://127.0.0.1:${ports.ETL_CODEC_PORT}/decode`, { method: 'OPTIONS',
      headers: { Origin: uiOrigin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,x-namespace' } });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), uiOrigin);
    assert.match(stderr, /No workers started \(--no-workers\): run `npx etl worker`/);
    const runDir = path.join(dataDir, 'run');
    const pidOf = (name: string) => JSON.parse(readFileSync(path.join(runDir, `${name}.pid`), 'utf8')).pid as number;
    const pids = readdirSync(runDir).filter((f) => f.endsWith('.pid')).map((f) => pidOf(f.replace(/\.pid$/, '')));
    assert.equal(pids.length, 4);

    // Postgres and SFTP killed: each is started again on its port, and the user is told in one line each.
    const killed = { Postgres: pidOf('postgres'), SFTP: pidOf('sftp') };
    for (const pid of Object.values(killed)) process.kill(pid, 'SIGKILL');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`etl dev did not restart its servers:\n${stderr}`)), 60_000);
      const check = () => {
        if (/Postgres restarted/.test(stderr) && /SFTP restarted/.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stderr.on('data', check);
      check();
    });
    for (const [what, pid] of Object.entries(killed)) {
      assert.match(stderr, new RegExp(`${what} \\(pid ${pid}\\) stopped unexpectedly; restarting it`));
    }
    const restarted = { Postgres: pidOf('postgres'), SFTP: pidOf('sftp') };
    assert.notEqual(restarted.Postgres, killed.Postgres);
    assert.ok(isAlive(restarted.Postgres) && isAlive(restarted.SFTP));
    assert.ok(await canConnect(Number(ports.ETL_POSTGRES_PORT)) && await canConnect(Number(ports.ETL_SFTP_PORT)));
    pids.splice(0, pids.length, ...readdirSync(runDir).filter((f) => f.endsWith('.pid')).map((f) => pidOf(f.replace(/\.pid$/, ''))));

    child.kill('SIGINT');
    assert.equal(await exited, 'code 0, signal null', stderr);
    assert.match(stderr, /stopped\n$/);
    for (const pid of pids) assert.equal(isAlive(pid), false, `server ${pid} was stopped`);
    // Array.from: an array of this file's own context for deepEqual, not the one Node made (test/jest-environment.ts).
    assert.deepEqual(Array.from(readdirSync(runDir)).filter((f) => f.endsWith('.pid')), []);
    assert.equal(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid')), false);
  });
});
