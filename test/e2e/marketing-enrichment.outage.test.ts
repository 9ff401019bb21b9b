// Postgres crashing (immediate shutdown, crash recovery at its start, as after a power cut) under a running
// marketingEnrichment, mid "writing messages": some batches' messages stored, the next ones' inserts waiting. With the
// real `etl worker` in its own process, a Postgres of the test's own and the fake Gemini: the worker outlives its lost
// connections, the batches in flight are asked again once Postgres is back, and the messages and the business team's
// files end as an undisturbed run of the same customers left them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, it } from '@jest/globals';
import { parse } from 'csv-parse/sync';
import ExcelJS from 'exceljs';
import type { EnrichmentInput, EnrichmentResult } from '../../lib/contracts/marketing-enrichment';
import { FakeGemini } from '../helpers/fake-gemini';
import { endsWithin, holdAdvisoryLock, openFaultStack, waitForAdvisoryLockWait, waitForTargetTables, type FaultStack } from '../helpers/faults';
import { exportFolder, geminiSettings, tempDir, writeCustomers } from '../helpers/marketing-enrichment';
import { describeFault } from '../helpers/gates';

const CUSTOMERS = 200;
const BATCH = 10;
/** Messages of batches from this one on wait for this advisory lock as they are stored, while the test holds it. */
const FROM_BATCH = 8;
const LOCK_KEY = 5_140_016;
const CAMPAIGN = 'outage';
/** The outage (3 s) plus the retries' backoff (2 s, doubling) and a request's heartbeat timeout (20 s), generously. */
const BOUND_MS = 120_000;

// In `npm run test:faults` (ETL_FAULT_TESTS=1), not in the default `npm test`: about 20 s.

describeFault('Postgres restarting under a running marketingEnrichment', () => {
  let stack: FaultStack;
  const fake = new FakeGemini({ apiKey: 'test-key', latencyMs: 50 });
  // One unknown interest: the quarantine sheet is compared too.
  const customers = writeCustomers(tempDir('marketing-outage'), 'MKO', CUSTOMERS, [{ id: 'MKO-BAD', interesse: 'Poupança' }]);

  const enrich = (label: string) => stack.start('marketingEnrichment', label, {
    customers, campaign: CAMPAIGN, batchSize: BATCH, maxParallelRequests: 2, outputs: { folder: exportFolder(label).folder },
  } satisfies EnrichmentInput);
  /** What a user reads in the files: the messages (not when each was written), the quarantine, the summary (not the workflow id). */
  const contents = async (result: EnrichmentResult) => {
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.readFile(result.files.find((f) => f.endsWith('.xlsx'))!);
    const sheet = (name: string) => (workbook.getWorksheet(name)!.getSheetValues() as unknown[][]).filter(Boolean).map((row) => JSON.stringify(row));
    const generatedAt = 14; // 'Gerada em', the last column of Mensagens (cell values start at 1)
    const csv = parse(readFileSync(result.files.find((f) => f.endsWith('.csv'))!, 'utf8'), { bom: true, delimiter: ';', columns: true }) as Record<string, string>[];
    return {
      messages: sheet('Mensagens').map((row) => JSON.stringify((JSON.parse(row) as unknown[]).slice(0, generatedAt))),
      quarantine: sheet('Quarentena'),
      summary: sheet('Resumo').filter((row) => !row.includes('workflow id')),
      csv: csv.map(({ 'Gerada em': _, ...rest }) => rest),
    };
  };
  const messagesDiffer = async () => (await stack.target.query(`
    (SELECT customer_id, campaign, prompt_version, status, message, word_count, failure_reason, provider, model, batch FROM marketing_messages
     EXCEPT SELECT customer_id, campaign, prompt_version, status, message, word_count, failure_reason, provider, model, batch FROM undisturbed_messages)
    UNION ALL
    (SELECT customer_id, campaign, prompt_version, status, message, word_count, failure_reason, provider, model, batch FROM undisturbed_messages
     EXCEPT SELECT customer_id, campaign, prompt_version, status, message, word_count, failure_reason, provider, model, batch FROM marketing_messages)`)).rows;

  let undisturbed: EnrichmentResult;

  beforeAll(async () => {
    await fake.start();
    stack = await openFaultStack('marketing-outage', ['postgres'], (settings) => ({ ...settings, gemini: geminiSettings(fake).gemini }));
    await waitForTargetTables(stack.target, ['marketing_messages']);
    // The undisturbed run's messages are kept aside and removed: the run under the crash enriches the same customers.
    undisturbed = await stack.worker.orDeath((await enrich('mkt-undisturbed')).result()) as EnrichmentResult;
    await stack.target.query(`CREATE TABLE undisturbed_messages AS SELECT * FROM marketing_messages; DELETE FROM marketing_messages`);
    await stack.target.query(`
      CREATE FUNCTION marketing_outage_wait() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.batch >= ${FROM_BATCH} THEN PERFORM pg_advisory_xact_lock_shared(${LOCK_KEY}); END IF; RETURN NEW; END $$;
      CREATE TRIGGER marketing_outage_wait BEFORE INSERT ON marketing_messages FOR EACH ROW EXECUTE FUNCTION marketing_outage_wait()`);
  });
  afterAll(async () => {
    await stack?.close();
    await fake.stop();
  });

  it('mid "writing messages": the run rides it out, the messages and the XLSX and CSV equal an undisturbed run\'s, the worker lives on', async () => {
    assert.equal(undisturbed.enriched, CUSTOMERS);
    assert.equal(undisturbed.customersQuarantined, 1);
    const blocker = await holdAdvisoryLock(stack.target, LOCK_KEY);
    const handle = await enrich('mkt-outage');
    await stack.worker.orDeath(waitForAdvisoryLockWait(stack.target, LOCK_KEY));
    const { rows: [atCrash] } = await stack.target.query('SELECT count(*)::int AS n FROM marketing_messages');
    assert.ok(atCrash.n >= (FROM_BATCH - 1) * BATCH && atCrash.n < CUSTOMERS, `crashed mid-run (after ${atCrash.n} messages stored)`);
    assert.equal((await handle.query('progress') as { step: string }).step, 'writing messages');
    const down = Date.now();
    await stack.servers.crash('postgres');
    blocker.release(true);
    await sleep(3000); // an outage of a few seconds: the batches' attempts fail to connect meanwhile
    await stack.servers.start('postgres');

    const result = await stack.worker.orDeath(endsWithin(handle.result(), down, BOUND_MS)) as EnrichmentResult;
    assert.equal(stack.worker.exitCode, null, `the worker process died:\n${stack.worker.output()}`);
    assert.deepEqual({ ...result, files: [] }, { ...undisturbed, files: [] });
    assert.deepEqual(await messagesDiffer(), [], 'the messages equal the undisturbed run\'s');
    const expected = await contents(undisturbed);
    assert.equal(expected.csv.length, CUSTOMERS);
    assert.equal(expected.quarantine.length, 2, 'a header and the customer with an unknown interest');
    assert.deepEqual(await contents(result), expected, 'the XLSX and CSV hold what the undisturbed run\'s do');
    const attempts = ((await handle.fetchHistory()).events ?? []).map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
    assert.ok(Math.max(...attempts) > 1, 'the batches in flight were sent again once Postgres was back');
  });
});
