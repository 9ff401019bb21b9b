// The optional log file (ETL_LOG_FILE): every JSON line that goes to stdout also goes to a file that rolls daily,
// keeping ETL_LOG_KEEP_DAYS files. The roll is driven by a fake clock (no waiting for midnight).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { afterAll, describe, it, jest } from '@jest/globals';
import { loadConfig, projectRoot } from '../../lib/config/env';
import { settingsToEnv } from '../../lib/config/settings';
import { logger, openLogFile } from '../../lib/temporal/logging';
import { settings } from '../helpers/env';

const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('ETL_LOG_FILE: logs also in a daily file, kept ETL_LOG_KEEP_DAYS days', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'etl-logs-'));
  afterAll(() => {
    jest.useRealTimers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is read from the environment: off by default, 30 days kept unless told, a bad count refused', () => {
    assert.equal(loadConfig({}).ETL_LOG_FILE, undefined);
    assert.equal(loadConfig({ ETL_LOG_FILE: '/var/log/etl/etl.log' }).ETL_LOG_KEEP_DAYS, 30);
    assert.equal(loadConfig({ ETL_LOG_FILE: 'x.log', ETL_LOG_KEEP_DAYS: '7' }).ETL_LOG_KEEP_DAYS, 7);
    assert.throws(() => loadConfig({ ETL_LOG_KEEP_DAYS: '1' }), /ETL_LOG_KEEP_DAYS/);
  });

  it('etl worker writes the same JSON lines to stdout and to today\'s file', async () => {
    const file = path.join(dir, 'worker', 'etl.log');
    const child = spawn(process.execPath, [path.join(projectRoot, 'bin/etl.js'), 'worker'], {
      env: { ...process.env, ...settingsToEnv(settings), ETL_METRICS_ADDRESS: 'off', ETL_LOG_FILE: file, ETL_LOG_KEEP_DAYS: '3', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    try {
      while (!stdout.includes('workers running')) await once(child.stdout, 'data');
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    const today = new Date().toLocaleDateString('sv'); // yyyy-MM-dd, local time as pino-roll names it
    assert.deepEqual([...readdirSync(path.dirname(file))], [`etl.${today}.1.log`]);
    const inFile = lines(path.join(path.dirname(file), `etl.${today}.1.log`)).find((l) => l.msg === 'workers running');
    const onStdout = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'workers running');
    assert.ok(onStdout, 'stdout keeps its JSON lines');
    assert.deepEqual(inFile, onStdout);
  });

  it('rolls at midnight to a new file and deletes the files beyond the days kept, earlier processes\' included', async () => {
    const folder = path.join(dir, 'roll');
    const file = path.join(folder, 'etl.log');
    jest.useFakeTimers({ now: new Date(2026, 2, 16, 23, 59, 0), doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const stream = await openLogFile({ file, keepDays: 3 });
    const log = logger.child({}, { level: 'info' }); // whatever LOG_LEVEL the test run has
    // Files of earlier days, left by earlier processes.
    for (const day of ['2026-03-10', '2026-03-12', '2026-03-15']) writeFileSync(path.join(folder, `etl.${day}.1.log`), '{}\n');
    log.info({ day: 16 }, 'before midnight');
    const cleaned = once(stream, 'cleanup-complete');
    const reopened = once(stream, 'ready');
    await jest.advanceTimersByTimeAsync(2 * 60_000);
    await Promise.all([cleaned, reopened]);
    log.info({ day: 17 }, 'after midnight');
    // Closed before the files are read: lines go out as they come, asynchronously, and flush() returns at once then
    // (it read an empty file once, in CI).
    stream.end();
    await once(stream, 'close');
    const files = readdirSync(folder).sort();
    // pino-roll lists the folder while it opens the new file: 3 days kept, or 2 when the listing already saw the new one.
    assert.ok(['etl.2026-03-15.1.log,etl.2026-03-16.1.log,etl.2026-03-17.1.log', 'etl.2026-03-16.1.log,etl.2026-03-17.1.log'].includes(files.join(',')),
      files.join(','));
    assert.deepEqual(lines(path.join(folder, 'etl.2026-03-16.1.log')).map((l) => l.msg), ['before midnight']);
    assert.deepEqual(lines(path.join(folder, 'etl.2026-03-17.1.log')).map((l) => l.msg), ['after midnight']);
  });
});
