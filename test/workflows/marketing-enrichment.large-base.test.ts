// Large customer bases. A base far bigger than the runs before it is numbered into batches at once (the shared
// run-customers table's statistics, taken on small runs, no longer plan it as nested loops over every pair of
// customers); and a long run continues as new every MAX_HISTORY_EVENTS events, carrying its totals, and the last run
// exports every customer. Both with the offline provider.
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { EnrichmentResult } from '../../lib/contracts/marketing-enrichment';
import { MAX_HISTORY_EVENTS } from '../../workflows/marketing-enrichment';
import { openTestContext, startOptions, type TestContext } from '../helpers/env';
import { exportFolder, geminiSettings, tempDir, writeCustomers } from '../helpers/marketing-enrichment';
import { itLarge } from '../helpers/gates';

const CUSTOMERS = 200_000;
// The 200,000-customer run takes about 55 s: outside the default run for CI's budget; ETL_LARGE_TESTS=1 runs it.

describe('marketingEnrichment on a large base', () => {
  let ctx: TestContext;
  const dir = tempDir('marketing-large');

  beforeAll(async () => {
    ctx = await openTestContext('marketing-large', { settings: geminiSettings(undefined) });
  });
  afterAll(async () => {
    await ctx?.close();
  });

  const enrich = async (prefix: string, customers: number, campaign: string) => {
    const handle = await ctx.client.workflow.start('marketingEnrichment', {
      ...startOptions(ctx, `mkt-${campaign}`),
      args: [{ customers: writeCustomers(dir, prefix, customers), campaign, batchSize: 200, maxParallelRequests: 8,
        outputs: { folder: exportFolder('large').folder } }],
    });
    return { handle, result: await handle.result() as EnrichmentResult };
  };
  const enrichedInDatabase = async (campaign: string) => (await ctx.target.query(`SELECT count(*)::int AS n,
    count(DISTINCT customer_id)::int AS customers FROM marketing_messages WHERE campaign = $1 AND status = 'enriched'`, [campaign])).rows[0];

  it('a base far bigger than the runs the statistics saw runs through (it never finished: minutes per 20,000 customers)', async () => {
    // What a team has after trying small campaigns first: statistics (autovacuum's, here taken at once) on small runs.
    await enrich('FEW', 20, 'stats-small');
    await ctx.target.query('ANALYZE marketing_run_customers');

    const { result } = await enrich('MANY', 30_000, 'stats-large');
    assert.equal(result.enriched, 30_000);
    assert.equal(result.failed, 0);
    assert.deepEqual(await enrichedInDatabase('stats-large'), { n: 30_000, customers: 30_000 });
  });

  itLarge(`${CUSTOMERS.toLocaleString('en')} customers: continued as new, every history short, every customer enriched once`, async () => {
    // Statistics that know nothing of this run, as in the case above.
    await ctx.target.query('ANALYZE marketing_run_customers');
    const { handle, result } = await enrich('BIG', CUSTOMERS, 'large');
    assert.equal(result.enriched, CUSTOMERS);
    assert.equal(result.failed, 0);

    // Walk the chain of runs from the first: each one's history, and where it continued.
    const lengths: number[] = [];
    for (let runId: string | undefined = handle.firstExecutionRunId; runId;) {
      const history: Awaited<ReturnType<typeof handle.fetchHistory>> = await ctx.client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
      const events = history.events ?? [];
      lengths.push(events.length);
      runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    }
    assert.equal(result.runs, lengths.length);
    assert.ok(lengths.length >= 2, `runs: ${lengths.length}`);
    // A run stops taking batches at MAX_HISTORY_EVENTS; the ones in flight (8 at most) add a few events each.
    for (const length of lengths) assert.ok(length < MAX_HISTORY_EVENTS + 100, `history lengths: ${lengths.join(', ')}`);
    assert.deepEqual(await enrichedInDatabase('large'), { n: CUSTOMERS, customers: CUSTOMERS });
  });
});
