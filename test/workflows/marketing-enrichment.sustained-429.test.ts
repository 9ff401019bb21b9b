// A 429 that outlasts the request's retry budget never fails the run: the batch waits on a durable timer and is sent
// again, until the run's deadline; what the deadline leaves is reported, and a rerun sends it.
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { EnrichmentResult } from '../../lib/contracts/marketing-enrichment';
import { openTestContext, startOptions, type TestContext } from '../helpers/env';
import { FakeGemini, type Fault } from '../helpers/fake-gemini';
import { exportFolder, geminiSettings, tempDir, writeCustomers } from '../helpers/marketing-enrichment';

const tooMany = (n: number): Fault[] => Array.from({ length: n }, () => ({ kind: 'status', status: 429, retryDelaySeconds: 1 }));

describe('marketingEnrichment under a sustained 429', () => {
  let ctx: TestContext;
  const dir = tempDir('marketing-429');
  const fake = new FakeGemini({ apiKey: 'test-key' });
  const start = (input: object) => ctx.client.workflow.start('marketingEnrichment', {
    ...startOptions(ctx, 'mkt-429'), args: [{ outputs: { folder: exportFolder('429').folder }, ...input }],
  });

  beforeAll(async () => {
    await fake.start();
    ctx = await openTestContext('marketing-429', { settings: geminiSettings(fake) });
  });
  afterAll(async () => {
    await ctx?.close();
    await fake.stop();
  });

  it('after the retry budget the batch waits on a timer and is sent again; the result counts the waits', async () => {
    fake.reset();
    // Two attempts per request: 429, 429 -> wait -> 429, 429 -> wait -> answered.
    fake.inject(...tooMany(4));
    const handle = await start({ customers: writeCustomers(dir, 'W', 10), campaign: 'wait-429', batchSize: 10,
      rateLimit: { attempts: 2, pauseSeconds: 1, deadlineMinutes: 10 } });
    const result = await handle.result() as EnrichmentResult;
    assert.deepEqual([result.enriched, result.failed, result.rateLimitWaits, result.deferred], [10, 0, 2, 0]);
    assert.deepEqual(fake.requests.map((r) => r.status), [429, 429, 429, 429, 200]);
    const timers = ((await handle.fetchHistory()).events ?? []).filter((e) => e.timerStartedEventAttributes);
    assert.equal(timers.length, 2, 'two durable timers in the history');
  });

  it('at the deadline, batches still rate limited are left for a rerun; the run succeeds and says so', async () => {
    fake.reset();
    fake.inject(...tooMany(100));
    const customers = writeCustomers(dir, 'D', 10);
    const input = { customers, campaign: 'deadline-429', batchSize: 5, maxParallelRequests: 1 };
    const result = await (await start({ ...input, rateLimit: { attempts: 1, pauseSeconds: 1, deadlineMinutes: 0.05 } })).result() as EnrichmentResult;
    assert.equal(result.enriched, 0);
    assert.equal(result.deferred, 10);
    assert.ok(result.rateLimitWaits! >= 1);
    assert.match(result.note!, /deadline \(0\.05 min\) came while Gemini still answered 429: 10 customers were left without a message; run the same campaign again/);
    const { rows: [stored] } = await ctx.target.query(`SELECT count(*)::int AS n FROM marketing_messages WHERE campaign = 'deadline-429'`);
    assert.equal(stored.n, 0, 'nothing recorded as failed: a rerun asks for them');

    fake.reset();
    const rerun = await (await start(input)).result() as EnrichmentResult;
    assert.deepEqual([rerun.enriched, rerun.deferred, rerun.rateLimitWaits], [10, 0, 0]);
  });
});
