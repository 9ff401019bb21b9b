import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { WorkflowFailedError } from '@temporalio/client';
import { parse } from 'csv-parse/sync';
import ExcelJS from 'exceljs';
import type { EnrichmentInput, EnrichmentResult } from '../../lib/contracts/marketing-enrichment';
import { openTestContext, startOptions, type TestContext } from '../helpers/env';
import { FakeGemini } from '../helpers/fake-gemini';
import { exportFolder, geminiSettings, tempDir, writeCustomers } from '../helpers/marketing-enrichment';

describe('marketingEnrichment against a Gemini that speaks the real wire format', () => {
  let ctx: TestContext;
  const dir = tempDir('marketing');
  const exports = exportFolder('story');
  const out = exports.path;
  const fake = new FakeGemini({ apiKey: 'test-key', latencyMs: 30, alwaysTooLong: ['WRD-000004'] });
  const enrich = (input: EnrichmentInput) =>
    ctx.client.workflow.execute('marketingEnrichment', { ...startOptions(ctx, 'mkt'), args: [{ outputs: { folder: exports.folder }, ...input }] }) as Promise<EnrichmentResult>;
  const messages = async (campaign: string) => (await ctx.target.query(
    `SELECT customer_id, status, message, word_count, failure_reason, provider, model FROM marketing_messages WHERE campaign = $1 ORDER BY customer_id`,
    [campaign])).rows;

  beforeAll(async () => {
    await fake.start();
    ctx = await openTestContext('marketing', { settings: geminiSettings(fake) });
  });
  afterAll(async () => {
    await ctx?.close();
    await fake.stop();
  });

  describe('a clean run, then a rerun', () => {
    const customers = writeCustomers(dir, 'CLN', 120, [
      { id: '', nome: 'Sem Id' },
      { id: 'CLN-900001', nome: '' },
      { id: 'CLN-900002', interesse: 'Poupança' },
      { id: 'CLN-000001', nome: 'Repetido' },
    ]);
    let result: EnrichmentResult;

    it('enriches every valid customer with a fraction of the requests and keeps each message in Postgres', async () => {
      fake.reset();
      result = await enrich({ customers, campaign: 'clean', batchSize: 25 });
      assert.equal(result.provider, 'gemini');
      assert.equal(result.customersRead, 124);
      assert.equal(result.customersQuarantined, 4);
      assert.equal(result.enriched, 120);
      assert.equal(result.failed, 0);
      assert.equal(result.requests, Math.ceil(120 / 25));
      assert.ok(result.tokens && result.tokens.total > 0, 'token usage is reported');
      assert.deepEqual([...new Set(fake.timesAsked().values())], [1], 'every customer was asked exactly once');
      const rows = await messages('clean');
      assert.equal(rows.length, 120);
      assert.ok(rows.every((r) => r.status === 'enriched' && r.provider === 'gemini' && r.model === 'gemini-2.5-flash-lite' && r.word_count <= 12));
      assert.match(rows[0].message, /^\p{L}+, seu futuro em .+ começa hoje\. Invista com a gente!$/u);
    });

    it('quarantines rows with no id, no name, an unknown interest or a repeated id, with the reason', async () => {
      const { rows } = await ctx.target.query(
        `SELECT reason FROM etl_quarantine WHERE pipeline = 'marketingEnrichment' AND source_table = $1 ORDER BY id`, [customers]);
      assert.deepEqual(rows.map((r) => r.reason), [
        'line 122: no id',
        'line 123: no name',
        'line 124: unknown interest "Poupança" (known: Cripto, FIIs, Ações, Tesouro Direto, Renda Fixa)',
        'line 125: duplicate id CLN-000001 (first on line 2)',
      ]);
    });

    it('writes an XLSX that Brazilian Excel opens cleanly: bold frozen header, filter, real dates and numbers', async () => {
      const xlsx = result.files.find((f) => f.endsWith('.xlsx'))!;
      assert.equal(path.dirname(xlsx), out);
      const workbook = new ExcelJS.Workbook();
      await workbook.xlsx.readFile(xlsx);
      assert.deepEqual(workbook.worksheets.map((s) => s.name), ['Mensagens', 'Quarentena', 'Resumo']);
      const sheet = workbook.getWorksheet('Mensagens')!;
      assert.equal(sheet.rowCount, 121);
      assert.deepEqual((sheet.getRow(1).values as string[]).slice(1), ['ID', 'Nome', 'E-mail', 'Cidade', 'UF', 'Interesse',
        'Data de cadastro', 'Mensagem', 'Palavras', 'Status', 'Motivo', 'Provedor', 'Modelo', 'Gerada em']);
      assert.equal(sheet.getRow(1).font?.bold, true);
      assert.deepEqual(sheet.views[0], { ...sheet.views[0], state: 'frozen', ySplit: 1 });
      assert.ok(sheet.autoFilter, 'the header has a filter');
      const { rows: [first] } = await ctx.target.query(
        `SELECT c.*, c.signup_date::text AS signup, m.message, m.word_count FROM marketing_customers c JOIN marketing_messages m USING (customer_id)
          WHERE customer_id = 'CLN-000001' AND m.campaign = 'clean'`);
      const cells = sheet.getRow(2);
      assert.equal(cells.getCell(1).value, 'CLN-000001');
      assert.equal(cells.getCell(2).value, first.name);
      assert.equal(cells.getCell(3).value, first.email);
      assert.equal(cells.getCell(5).value, first.state);
      assert.deepEqual(cells.getCell(7).value, new Date(`${first.signup}T00:00:00Z`));
      assert.equal(cells.getCell(7).numFmt, 'dd/mm/yyyy');
      assert.equal(cells.getCell(8).value, first.message);
      assert.equal(cells.getCell(9).value, first.word_count);
      assert.equal(cells.getCell(10).value, 'enriquecido');
      assert.ok(cells.getCell(14).value instanceof Date, 'generated-at is a real date cell');
      assert.ok(Number(sheet.getColumn(8).width) >= 60, 'the message column is wide enough to read');
      const quarantine = workbook.getWorksheet('Quarentena')!;
      assert.equal(quarantine.rowCount, 5);
      assert.deepEqual((quarantine.getRow(2).values as unknown[]).slice(1, 3), [122, 'no id']);
      assert.equal(JSON.parse(String(quarantine.getRow(2).getCell(3).value)).nome, 'Sem Id');
      const summary = workbook.getWorksheet('Resumo')!;
      assert.deepEqual((summary.getRow(6).values as unknown[]).slice(1), ['Enriquecidos nesta execução', 120]);
    });

    it('writes a ; CSV with a UTF-8 BOM and dd/mm/yyyy dates, the same rows as the XLSX', async () => {
      const csv = readFileSync(result.files.find((f) => f.endsWith('.csv'))!, 'utf8');
      assert.equal(csv.charCodeAt(0), 0xfeff, 'starts with a BOM');
      const records = parse(csv, { bom: true, delimiter: ';', columns: true }) as Record<string, string>[];
      assert.equal(records.length, 120);
      const first = records[0];
      assert.equal(first.ID, 'CLN-000001');
      assert.match(first['Data de cadastro'], /^\d{2}\/\d{2}\/\d{4}$/);
      assert.match(first['Gerada em'], /^\d{2}\/\d{2}\/\d{4} \d{2}:\d{2}$/);
      assert.equal(first.Status, 'enriquecido');
      const stored = await messages('clean');
      assert.equal(first.Mensagem, stored[0].message);
    });

    it('a rerun of the same file finds every message kept and sends no request', async () => {
      const asked = fake.requests.length;
      const again = await enrich({ customers, campaign: 'clean', batchSize: 25 });
      assert.equal(again.alreadyEnriched, 120);
      assert.equal(again.enriched, 0);
      assert.equal(again.requests, 0);
      assert.equal(fake.requests.length, asked);
      assert.equal((await messages('clean')).length, 120);
    });
  });

  it('429 storm: each retry waits as long as RetryInfo asks, and no customer fails', async () => {
    fake.reset();
    fake.inject({ kind: 'status', status: 500 }, { kind: 'status', status: 429, retryDelaySeconds: 3 },
      { kind: 'status', status: 429, retryDelaySeconds: 3 });
    const result = await enrich({ customers: writeCustomers(dir, 'RTL', 30), campaign: 'storm', batchSize: 30 });
    assert.equal(result.enriched, 30);
    assert.equal(result.failed, 0);
    assert.deepEqual(fake.requests.map((r) => r.status), [500, 429, 429, 200]);
    for (const i of [2, 3]) {
      const waited = fake.requests[i].at - fake.requests[i - 1].at;
      assert.ok(waited >= 2900, `retry ${i} came ${waited} ms after a 429 that asked for 3 s`);
    }
  });

  it('missing ids and over-long messages are asked again for just those customers, then marked failed', async () => {
    fake.reset();
    fake.inject({ kind: 'drop-ids', count: 2 });
    const result = await enrich({ customers: writeCustomers(dir, 'WRD', 20), campaign: 'words', batchSize: 20, retryRounds: 2 });
    assert.equal(result.enriched, 19);
    assert.equal(result.failed, 1);
    assert.equal(result.requests, 3);
    assert.deepEqual(fake.requests.map((r) => r.ids.length), [20, 3, 1], 'round 2 asks only the 3 bad ones, round 3 the one still too long');
    const asked = fake.timesAsked();
    assert.equal(asked.get('WRD-000001'), 2);
    assert.equal(asked.get('WRD-000004'), 3);
    assert.equal(asked.get('WRD-000005'), 1);
    const failed = (await messages('words')).filter((r) => r.status === 'failed');
    assert.deepEqual(failed.map((r) => [r.customer_id, r.message]), [['WRD-000004', null]]);
    assert.match(failed[0].failure_reason, /^the message had 1\d words; the limit is 12$/);
  });

  it('an answer that is not valid JSON is asked again', async () => {
    fake.reset();
    fake.inject({ kind: 'malformed-json' }, { kind: 'repeat-id' });
    const result = await enrich({ customers: writeCustomers(dir, 'JSN', 10), campaign: 'json', batchSize: 10 });
    assert.equal(result.enriched, 10);
    assert.equal(result.failed, 0);
    // 1st answer broken for all 10; 2nd repeats one id, which is then asked a third time.
    assert.deepEqual(fake.requests.map((r) => r.ids.length), [10, 10, 1]);
  });

  it('a rejected API key fails the run at once, naming GEMINI_API_KEY', async () => {
    const badKey = await openTestContext('marketing-badkey', { settings: geminiSettings(fake, { apiKey: 'wrong-key' }) });
    try {
      fake.reset();
      const error = await badKey.client.workflow.execute('marketingEnrichment', {
        ...startOptions(badKey, 'mkt-badkey'),
        args: [{ customers: writeCustomers(dir, 'KEY', 10), campaign: 'badkey', outputs: { folder: exports.folder } }],
      }).catch((e: unknown) => e);
      assert.ok(error instanceof WorkflowFailedError);
      const cause = error.cause?.cause as Error & { type?: string };
      assert.equal(cause.type, 'AuthenticationError');
      assert.match(cause.message, /Gemini refused the API key \(400 INVALID_ARGUMENT\): API key not valid.*Check GEMINI_API_KEY/);
      assert.equal(fake.requests.length, 1, 'no retry of a rejected key');
    } finally {
      await badKey.close();
    }
  });
});
