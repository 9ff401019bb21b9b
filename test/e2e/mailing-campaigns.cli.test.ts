import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { DEFAULT_CAMPAIGNS_DIR, loadCampaigns } from '../../activities/mailing-campaigns/load-campaigns';
import type { MailingResult } from '../../lib/contracts/mailing-campaigns';
import { generatePartnerCustomers } from '../../lib/sample-data/mailing-campaigns';
import { startWorkers, type RunningWorkers } from '../../workers';
import { etl } from '../helpers/cli';
import { openTestContext, settings, workflowBundle, type TestContext } from '../helpers/env';
import { listFolder } from '../helpers/mailing-campaigns';

describe('the sample campaigns from the command line', () => {
  let ctx: TestContext;
  let workers: RunningWorkers;

  beforeAll(async () => {
    ctx = await openTestContext('mailing-cli', { worker: false });
    workers = await startWorkers(settings, { workflowBundle, tuning: { shutdownGraceTime: '1s' } });
  });
  afterAll(async () => {
    await workers?.shutdown();
    await ctx?.close();
  });

  it('every campaign shipped in campaigns/ validates', () => {
    const loaded = loadCampaigns(DEFAULT_CAMPAIGNS_DIR);
    assert.deepEqual(loaded.invalid, []);
    assert.ok(loaded.campaigns.length >= 3);
  });

  it('before the sample data, a sample campaign fails saying how to get it', async () => {
    const error = await ctx.client.workflow.execute('mailingCampaigns', { taskQueue: 'etl-mailing-campaigns', workflowId: `mailing-cli-no-sample-${Date.now()}`,
      args: [{ campaigns: ['cobranca_cartao'] }] }).then(() => undefined, (e: unknown) => e);
    const result = ((error as WorkflowFailedError).cause as ApplicationFailure).details?.[0] as MailingResult;
    assert.equal(result.campaigns[0].errorType, 'FolderMissing');
    assert.match(result.campaigns[0].error!, /the SFTP folder \/dialer\/cobranca_cartao does not exist .*; the project's campaigns are samples: `npx etl sample-data partners` makes their folders and partner base/);
  });

  it('sample-data partners makes the same base for the same seed, and the dialers\' folders', async () => {
    const result = await etl(['sample-data', 'partners', '--count', '3000', '--seed', '42']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual((result.json as { folders: string[] }).folders.sort(), ['/dialer/cobranca_cartao', '/dialer/telecom', '/dialer/varejo/renegociacao']);
    const { rows: [sample] } = await ctx.sourceAdmin.query(
      `SELECT count(*)::int AS n, count(DISTINCT uf)::int AS ufs, bool_and(phone ~ '9\\d{4}-?\\d{4}$') AS mobiles,
              bool_and(cpf ~ '^\\d{11}$') AS cpfs, md5(string_agg(full_name || phone, ',' ORDER BY id)) AS digest
         FROM partner_customers WHERE id <= 3000`);
    assert.deepEqual([sample.n, sample.mobiles, sample.cpfs], [3000, true, true]);
    assert.ok(sample.ufs > 15);
    // Same seed, same people: rebuilt in a scratch table, the digest is the same.
    const client = await ctx.sourceAdmin.connect();
    try {
      await client.query('CREATE TEMP TABLE again (LIKE partner_customers INCLUDING ALL)');
      await generatePartnerCustomers(client, { table: 'again', count: 3000, seed: 42 });
      const { rows: [again] } = await client.query(`SELECT md5(string_agg(full_name || phone, ',' ORDER BY id)) AS digest FROM again`);
      assert.equal(again.digest, sample.digest);
    } finally {
      client.release();
    }
  });

  it('`etl run mailing-campaigns --input {"campaigns":[...]}` delivers that campaign now', async () => {
    const result = await etl(['run', 'mailing-campaigns', '--input', '{"campaigns":["cobranca_cartao"]}']);
    assert.equal(result.code, 0, result.stderr);
    const output = result.json as MailingResult;
    assert.equal(output.delivered, 1);
    assert.equal(output.campaigns[0].campaign, 'cobranca_cartao');
    assert.ok(output.rows > 0);
    assert.match(output.campaigns[0].fileName!, /^mailing_cobranca_cartao_\d{2}-\d{2}_\d{2}-00\.csv$/);
    assert.deepEqual(await listFolder('/dialer/cobranca_cartao'), [output.campaigns[0].fileName]);
  });
});
