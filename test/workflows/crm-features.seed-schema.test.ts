// crmFeatures on the CRM team's own tbl_transactions (their document's DDL: no game_type, no channel) and a Brazilian
// lake export (`;`-separated, decimal commas, R$ amounts, a channel with a comma in it); and a source table that is not there.
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { CrmFeaturesResult } from '../../lib/contracts/crm-features';
import { parsedNumberSql } from '../../lib/io/numbers';
import { createS3Client } from '../../lib/io/s3';
import { putLakeFile } from '../../lib/sample-data/crm-features';
import { AS_OF } from '../helpers/crm-features';
import { openTestContext, settings, startOptions, uniqueId, type TestContext } from '../helpers/env';

describe('crmFeatures on the seed\'s own schema', () => {
  let ctx: TestContext;
  const s3 = createS3Client(settings.s3);
  const p = `${uniqueId('seed')}-`;
  const table = `crm_seed_${p.slice(5, 13)}`;
  const prefix = `lake/${p}`;

  beforeAll(async () => {
    ctx = await openTestContext('crm-seed');
    // Exactly as docs 004 (the CRM team's document) defines it.
    await ctx.sourceAdmin.query(`CREATE TABLE ${table} (
      transaction_id UUID PRIMARY KEY,
      user_id VARCHAR(50) NOT NULL,
      amount DECIMAL(10,2) NOT NULL,
      transaction_type VARCHAR(20) NOT NULL,
      status VARCHAR(20) NOT NULL,
      created_at TIMESTAMP NOT NULL
    )`);
    await ctx.sourceAdmin.query(`INSERT INTO ${table} VALUES
      ('00000000-0000-4000-a000-000000000001', '${p}A', 1000.00, 'deposit', 'completed', '2026-03-14 20:00:00'),
      ('00000000-0000-4000-a000-000000000002', '${p}A', 100.00, 'bet', 'completed', '2026-03-15 21:00:00')`);
    await ctx.sourceAdmin.query(`GRANT SELECT ON ${table} TO etl_reader`);
    await putLakeFile(s3, settings.s3.bucket, `${prefix}loja.csv`, Buffer.from([
      'transaction_id;user_id;amount;transaction_type;status;created_at;channel',
      `00000000-0000-4000-a000-000000000003;${p}B;R$ 2.500;deposit;completed;2026-03-14 10:00:00;Loja, Centro`,
      `00000000-0000-4000-a000-000000000004;${p}B;12,50;bet;completed;2026-03-15 11:00:00;Loja, Centro`,
      `00000000-0000-4000-a000-000000000005;${p}B;1.234;bet;completed;2026-03-15 12:00:00;Loja, Centro`,
    ].join('\r\n') + '\r\n'));
  });
  afterAll(async () => {
    s3.destroy();
    await ctx?.close();
  });

  it('computes the features it can, NULL for those needing a column no source has, and says which', async () => {
    const result = await ctx.client.workflow.execute('crmFeatures', {
      ...startOptions(ctx, 'crm-seed'), args: [{ sourceTable: table, lakePrefix: `s3:${prefix}`, asOf: AS_OF, loadStrategy: 'append' }],
    }) as CrmFeaturesResult;
    assert.equal(result.recordsQuarantined, 0);
    assert.deepEqual(result.featuresUnavailable, [
      { column: 'game_type', features: ['favorite_game_type', 'game_diversity_score', 'game_type_entropy', 'behavioral_diversity_score'] },
    ]);
    const { rows } = await ctx.target.query(`SELECT user_id, favorite_game_type, game_diversity_score, behavioral_diversity_score, canal_preferido,
        total_deposits::float AS deposits, ticket_medio::float AS ticket
      FROM ml_features.user_features WHERE user_id LIKE $1 ORDER BY user_id`, [`${p}%`]);
    assert.deepEqual(rows, [
      { user_id: `${p}A`, favorite_game_type: null, game_diversity_score: null, behavioral_diversity_score: null, canal_preferido: null,
        deposits: 1000, ticket: 100 },
      // `;` file: R$ 2.500 is 2500, 12,50 is 12.5 and 1.234 is 1234 (pt-BR); "Loja, Centro" is one channel.
      { user_id: `${p}B`, favorite_game_type: null, game_diversity_score: null, behavioral_diversity_score: null, canal_preferido: 'loja, centro',
        deposits: 2500, ticket: 623.25 },
    ]);
  });

  it('reads every amount as the shared parser does, plain numbers by the fast path included', async () => {
    const values = ['12', '-7', '+3', '123.45', '5.1', '0.500', '1.234', '1.2340', '1,234', '12,50', '1.234,56', '1,234.56', 'R$ 2.500', '1e5',
      'NaN', ' 12.5', '12.', '.5', '', 'abc', '99999999.99', '100000000'];
    const { rows } = await ctx.target.query(`SELECT v, l, ${parsedNumberSql('v', 'l')}::text AS fast, etl_parse_number(v, l)::text AS parser
      FROM unnest($1::text[]) v, unnest(ARRAY['auto', 'pt-BR', 'en-US']) l`, [values]);
    assert.equal(rows.length, values.length * 3);
    assert.deepEqual(rows.filter((r) => r.fast !== r.parser), []);
  });

  it('fails at once, naming the table, when the source table does not exist', async () => {
    const missing = `crm_missing_${p.slice(5, 13)}`;
    const error = await ctx.client.workflow.execute('crmFeatures', {
      ...startOptions(ctx, 'crm-seed-missing'), args: [{ sourceTable: missing, lakePrefix: `s3:${prefix}`, asOf: AS_OF, validateOnly: true }],
    }).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof WorkflowFailedError);
    let cause: unknown = error.cause;
    while (cause instanceof Error && !(cause instanceof ApplicationFailure) && cause.cause) cause = cause.cause;
    assert.ok(cause instanceof ApplicationFailure);
    assert.equal(cause.type, 'InvalidInput');
    assert.equal(cause.nonRetryable, true);
    assert.match(cause.message, new RegExp(`source table ${missing} does not exist on the source database`));
  });
});
