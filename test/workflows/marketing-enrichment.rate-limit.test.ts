import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { EnrichmentResult } from '../../lib/contracts/marketing-enrichment';
import { openTestContext, startOptions, type TestContext } from '../helpers/env';
import { FakeGemini } from '../helpers/fake-gemini';
import { exportFolder, geminiSettings, tempDir, writeCustomers } from '../helpers/marketing-enrichment';

describe('GEMINI_RPM through the task queue rate limit', () => {
  let ctx: TestContext;
  const dir = tempDir('marketing-rpm');
  // A provider that takes 4 requests per 2 s window and answers 429 beyond it. The workers are allowed 60 a
  // minute: one a second after a first burst of two. Unlimited, all 8 would arrive at once and 4 would get a 429.
  const fake = new FakeGemini({ apiKey: 'test-key', latencyMs: 20, rateLimit: { requests: 4, windowMs: 2000 } });

  beforeAll(async () => {
    await fake.start();
    ctx = await openTestContext('marketing-rpm', { settings: geminiSettings(fake, { requestsPerMinute: 60 }) });
  });
  afterAll(async () => {
    await ctx?.close();
    await fake.stop();
  });

  it('8 batches started at once are spread to the configured rate: the provider never has to answer 429', async () => {
    const result = await ctx.client.workflow.execute('marketingEnrichment', {
      ...startOptions(ctx, 'mkt-rpm'),
      args: [{ customers: writeCustomers(dir, 'RPM', 40), campaign: 'rpm', batchSize: 5, maxParallelRequests: 8, outputs: { folder: exportFolder('rpm').folder } }],
    }) as EnrichmentResult;
    assert.equal(result.enriched, 40);
    assert.equal(result.requests, 8);
    const gaps = fake.requests.slice(1).map((r, i) => r.at - fake.requests[i].at);
    assert.deepEqual(fake.requests.map((r) => r.status), Array(8).fill(200), `gaps between requests (ms): ${gaps.join(', ')}`);
  });
});
