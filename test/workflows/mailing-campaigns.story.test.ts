import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { MailingResult } from '../../lib/contracts/mailing-campaigns';
import type { RunningWorkers } from '../../workers';
import { openTestContext, startOptions, type TestContext } from '../helpers/env';
import { listFolder, makeFolders, readRemote, seedPartners, startMailingWorkers, withCampaigns, writeCampaigns } from '../helpers/mailing-campaigns';

const TABLE = 'public.mailing_wf_customers';
const ROOT = `/wf-${randomUUID().slice(0, 8)}`;

const layoutA = [
  { source: 'phone', header: 'TELEFONE', format: 'phone' },
  { source: 'phone', header: 'TEL_E164', format: 'phone', style: 'e164' },
  { source: 'full_name', header: 'NOME' },
  { source: 'debt_amount', header: 'VALOR', format: 'number', decimals: 2 },
  { source: 'due_date', header: 'VENCIMENTO', format: 'date', pattern: 'dd/MM/yyyy' },
];

const testCampaigns = [
  { name: 'alpha', sftpFolder: `${ROOT}/alpha`, columns: layoutA,
    sql: `SELECT phone, full_name, debt_amount, due_date FROM ${TABLE} WHERE partner = 'Banco Aurora' ORDER BY id;` },
  { name: 'beta', sftpFolder: `${ROOT}/beta/sub`, separator: '|', encoding: 'WIN1252', header: false,
    columns: [{ source: 'phone', header: 'DDD', format: 'phone', style: 'ddd' }, { source: 'phone', header: 'FONE', format: 'phone', style: 'number' },
      { source: 'full_name', header: 'NOME' }],
    sql: `SELECT phone, full_name FROM ${TABLE} WHERE partner = 'Lojas Horizonte' ORDER BY id` },
  { name: 'empty_file', sftpFolder: `${ROOT}/empty`, columns: layoutA, emptyResult: 'send-empty-file',
    sql: `SELECT phone, full_name, debt_amount, due_date FROM ${TABLE} WHERE false` },
  { name: 'empty_none', sftpFolder: `${ROOT}/empty`, columns: layoutA, emptyResult: 'send-nothing',
    sql: `SELECT phone, full_name, debt_amount, due_date FROM ${TABLE} WHERE false` },
  { name: 'broken_sql', sftpFolder: `${ROOT}/alpha`, columns: layoutA,
    sql: `SELECT phone, full_name, debt_amount, due_date FROM ${TABLE} WHERE no_such_column = 1` },
  { name: 'no_folder', sftpFolder: `${ROOT}/missing`, columns: layoutA,
    sql: `SELECT phone, full_name, debt_amount, due_date FROM ${TABLE}` },
];

const attemptsOf = async (handle: WorkflowHandle) => ((await handle.fetchHistory()).events ?? [])
  .map((e) => e.activityTaskStartedEventAttributes?.attempt).filter((a): a is number => Boolean(a));

describe('mailingCampaigns, campaigns to their dialers\' folders', () => {
  let ctx: TestContext;
  let workers: RunningWorkers;
  const run = (input: object) => ctx.client.workflow.start('mailingCampaigns', { ...startOptions(ctx, 'mailing'), args: [input] });
  const count = async (partner: string) =>
    Number((await ctx.sourceAdmin.query(`SELECT count(*) FROM ${TABLE} WHERE partner = $1`, [partner])).rows[0].count);

  beforeAll(async () => {
    ctx = await openTestContext('mailing', { worker: false });
    await seedPartners(ctx, TABLE, 3000);
    await makeFolders([`${ROOT}/alpha`, `${ROOT}/beta/sub`, `${ROOT}/empty`]);
    workers = await startMailingWorkers(ctx, withCampaigns(writeCampaigns(testCampaigns)));
  });
  afterAll(async () => {
    await workers?.shutdown();
    await ctx?.close();
  });

  it('delivers several campaigns with the slot\'s names, in their folders and layouts, and records them', async () => {
    const handle = await run({ campaigns: ['alpha', 'beta', 'empty_file', 'empty_none'], slot: '2025-03-10T10:37:00-03:00' });
    const result = (await handle.result()) as MailingResult;
    assert.equal(result.slotLabel, '2025-03-10 10:00 America/Sao_Paulo');
    assert.equal(result.slotSource, 'input');
    const byName = Object.fromEntries(result.campaigns.map((c) => [c.campaign, c]));
    assert.deepEqual(result.campaigns.map((c) => [c.campaign, c.status]).sort(),
      [['alpha', 'delivered'], ['beta', 'delivered'], ['empty_file', 'delivered'], ['empty_none', 'empty-not-sent']]);
    assert.equal(byName.alpha.rows, await count('Banco Aurora'));
    assert.equal(byName.beta.rows, await count('Lojas Horizonte'));
    assert.equal(byName.alpha.remotePath, `${ROOT}/alpha/mailing_alpha_10-03_10-00.csv`);
    assert.equal(result.rows, byName.alpha.rows + byName.beta.rows);

    // alpha: header, ';', phones digits-only and E.164, decimal comma, dd/MM/yyyy; one line per row.
    const alpha = (await readRemote(byName.alpha.remotePath!)).toString('utf8').trimEnd().split('\n');
    assert.equal(alpha[0], 'TELEFONE;TEL_E164;NOME;VALOR;VENCIMENTO');
    assert.equal(alpha.length - 1, byName.alpha.rows);
    for (const line of alpha.slice(1)) assert.match(line, /^\d{10,11};\+55\d{10,11};[^;]+;\d+,\d{2};\d{2}\/\d{2}\/\d{4}$/);
    const { rows: [first] } = await ctx.sourceAdmin.query(
      `SELECT full_name, replace(debt_amount::text, '.', ',') AS valor, to_char(due_date, 'DD/MM/YYYY') AS venc
         FROM ${TABLE} WHERE partner = 'Banco Aurora' ORDER BY id LIMIT 1`);
    assert.deepEqual(alpha[1].split(';').slice(2), [first.full_name, first.valor, first.venc]);

    // beta: Windows-1252, '|', no header, DDD and number apart; accents survive the encoding.
    const beta = (await readRemote(`${ROOT}/beta/sub/mailing_beta_10-03_10-00.csv`)).toString('latin1').trimEnd().split('\n');
    assert.equal(beta.length, byName.beta.rows);
    const { rows: names } = await ctx.sourceAdmin.query(`SELECT full_name FROM ${TABLE} WHERE partner = 'Lojas Horizonte' ORDER BY id`);
    assert.deepEqual(beta.map((line) => line.split('|')[2]), names.map((r) => r.full_name));
    assert.ok(beta.some((line) => /[áâãéêíóôúç]/i.test(line)), 'the sample has accented names');
    for (const line of beta) assert.match(line, /^\d{2}\|9\d{8}\|/);

    // Empty results: the header alone, or no file at all.
    assert.deepEqual(await listFolder(`${ROOT}/empty`), ['mailing_empty_file_10-03_10-00.csv']);
    assert.equal((await readRemote(`${ROOT}/empty/mailing_empty_file_10-03_10-00.csv`)).toString(), 'TELEFONE;TEL_E164;NOME;VALOR;VENCIMENTO\n');

    // "What did the dialers get at 10:00?" is one query.
    const { rows: recorded } = await ctx.target.query(
      `SELECT campaign, status, file_name, rows::int, workflow_id FROM mailing_deliveries
        WHERE slot = '2025-03-10 10:00 America/Sao_Paulo'::timestamptz AND campaign IN ('alpha', 'empty_none') ORDER BY campaign`);
    assert.deepEqual(recorded, [
      { campaign: 'alpha', status: 'delivered', file_name: 'mailing_alpha_10-03_10-00.csv', rows: byName.alpha.rows, workflow_id: handle.workflowId },
      { campaign: 'empty_none', status: 'empty-not-sent', file_name: 'mailing_empty_none_10-03_10-00.csv', rows: 0, workflow_id: handle.workflowId },
    ]);
    const progress = await handle.query<{ step: string }>('progress');
    assert.equal(progress.step, 'done');
    const described = await handle.describe();
    assert.deepEqual(described.searchAttributes.EtlPipeline, ['mailingCampaigns']);
    assert.deepEqual(described.searchAttributes.EtlRowsLoaded, [result.rows]);
  });

  it('a second run for the same slot delivers nothing twice', async () => {
    const before = await listFolder(`${ROOT}/alpha`);
    const result = (await (await run({ campaigns: ['alpha', 'beta'], slot: '2025-03-10T10:59:00-03:00' })).result()) as MailingResult;
    assert.deepEqual(result.campaigns.map((c) => c.status), ['already-delivered', 'already-delivered']);
    assert.equal(result.delivered, 0);
    assert.deepEqual(await listFolder(`${ROOT}/alpha`), before);
    const { rows } = await ctx.target.query(`SELECT count(*)::int AS n FROM mailing_deliveries WHERE campaign = 'alpha'`);
    assert.equal(rows[0].n, 1);
  });

  it('a broken campaign fails at once, the others still deliver, and the run fails listing each campaign', async () => {
    const started = Date.now();
    const handle = await run({ campaigns: ['alpha', 'broken_sql', 'no_folder'], slot: '2025-03-10T11:00:00-03:00' });
    const error = await handle.result().catch((e: unknown) => e);
    assert.ok(error instanceof WorkflowFailedError);
    const failure = error.cause;
    assert.ok(failure instanceof ApplicationFailure);
    assert.equal(failure.type, 'CampaignsFailed');
    assert.match(failure.message, /^2 of 3 campaigns failed for slot 2025-03-10 11:00 America\/Sao_Paulo: /);
    const result = failure.details?.[0] as MailingResult;
    const byName = Object.fromEntries(result.campaigns.map((c) => [c.campaign, c]));
    assert.equal(byName.alpha.status, 'delivered');
    assert.equal(byName.alpha.rows, await count('Banco Aurora'));
    assert.equal(byName.broken_sql.status, 'failed');
    assert.equal(byName.broken_sql.errorType, 'CampaignQueryError');
    assert.match(byName.broken_sql.error!, /campaign broken_sql, query campaigns\/sql\/broken_sql\.sql: column "no_such_column" does not exist/);
    assert.equal(byName.no_folder.errorType, 'FolderMissing');
    assert.match(byName.no_folder.error!, new RegExp(`the SFTP folder ${ROOT}/missing does not exist`));
    assert.deepEqual(await attemptsOf(handle), [1, 1, 1, 1, 1, 1], 'plan, three deliveries and two failure records: none retried');
    assert.ok(Date.now() - started < 10_000);
    assert.ok((await listFolder(`${ROOT}/alpha`)).includes('mailing_alpha_10-03_11-00.csv'));
    assert.deepEqual((await handle.describe()).searchAttributes.EtlOutcome, ['failed']);
    const { rows } = await ctx.target.query(
      `SELECT campaign, status FROM mailing_deliveries WHERE slot = '2025-03-10 11:00-03' ORDER BY campaign`);
    assert.deepEqual(rows, [{ campaign: 'alpha', status: 'delivered' }, { campaign: 'broken_sql', status: 'failed' }, { campaign: 'no_folder', status: 'failed' }]);
  });

  it('an unknown campaign name is rejected, naming the known ones', async () => {
    const error = await (await run({ campaigns: ['nope'] })).result().catch((e: unknown) => e);
    assert.ok(error instanceof WorkflowFailedError);
    const cause = error.cause?.cause as Error;
    assert.match(cause.message, /unknown campaign nope; the campaigns in .* are: alpha, beta, broken_sql/);
  });
});
