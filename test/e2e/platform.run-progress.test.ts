// `etl run` while it waits: on a terminal, a progress line rewritten in place from the run's progress query and its
// running step's heartbeat (step, rows, batches, rate); in a pipe or a log, a plain line per step.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { projectRoot } from '../../lib/config/env';
import { seedConversations } from '../../lib/sample-data/incremental-sync';
import { startWorkers, type RunningWorkers } from '../../workers';
import { etl } from '../helpers/cli';
import { openTestContext, settings, uniqueId, workflowBundle, type TestContext } from '../helpers/env';

const TABLE = 'public.conv_progress';
// Small batches, so that the copy lasts a few seconds of progress lines.
const input = JSON.stringify({ sourceTable: TABLE, full: true, batchSize: 200 });

/** Runs `etl` in a pseudo-terminal (util-linux `script`), as a person at a terminal would; returns what the terminal got. */
function etlInTerminal(args: string[]): Promise<{ code: number; output: string }> {
  const command = [process.execPath, path.join(projectRoot, 'bin/etl.js'), ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

describe('etl run progress', () => {
  let ctx: TestContext;
  let workers: RunningWorkers;

  beforeAll(async () => {
    ctx = await openTestContext('run-progress', { worker: false });
    await seedConversations(ctx.sourceAdmin, ctx.target, 200_000, TABLE);
    // Heartbeats reach the server every 0.5 s here (2 s in the product), so that a copy of seconds shows its rows.
    workers = await startWorkers(settings, { workflowBundle, tuning: { shutdownGraceTime: '1s', maxHeartbeatThrottleInterval: '500ms' } });
  });
  afterAll(async () => {
    await workers?.shutdown();
    await ctx?.close();
  });

  it('on a terminal: one line rewritten in place with the step, the rows, the batches and the rate; cleared at the end', async () => {
    const { code, output } = await etlInTerminal(['run', 'incremental-sync', '--input', input, '--id', uniqueId('progress-tty')]);
    assert.equal(code, 0, output);
    const lines = output.split('\r\x1b[2K').slice(1).map((l) => l.replace(/\r?\n[\s\S]*$/, ''));
    const copying = lines.filter((l) => /^copying changed rows · [\d,]+ rows · [\d,]+ batches/.test(l));
    assert.ok(copying.length >= 2, `progress lines: ${JSON.stringify(lines)}`);
    assert.ok(copying.some((l) => / · [\d,]+ rows\/s$/.test(l)), `a rate: ${JSON.stringify(copying)}`);
    assert.match(output, /completed in [\d.]+ s/);
  });

  it('in a pipe: no control characters, a plain line each time the step changes', async () => {
    const result = await etl(['run', 'incremental-sync', '--input', input, '--id', uniqueId('progress-pipe')]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr.includes('\x1b'), false);
    assert.match(result.stderr, /^step: copying changed rows$/m);
  });
});
