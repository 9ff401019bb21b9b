// Queries and variables that a configuration names are input, and input can be hostile: a campaign's or a sales
// source's SQL must be one read-only SELECT (it is spliced into COPY (SELECT ... FROM (<sql>))), a source may name
// only allow-listed variables, and no failure quotes a connection string or a password.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { extractSource, type SalesDeps } from '../../activities/sales-warehouse/extract';
import { exportCampaign } from '../../activities/mailing-campaigns/campaign-export';
import { campaignSchema, type Campaign } from '../../lib/contracts/mailing-campaign-file';
import { sourceSchema } from '../../lib/contracts/sales-warehouse';
import { migrate } from '../../lib/io/migrate';
import { createPool } from '../../lib/io/postgres';
import { readSecret } from '../../lib/io/resources';
import { createS3Client } from '../../lib/io/s3';
import { ErrorType } from '../../lib/workflow/errors';
import { settings } from '../helpers/env';

const failure = (promise: Promise<unknown>) => promise.then(() => assert.fail('expected an error'), (error: unknown) => error as ApplicationFailure);

describe('hostile queries and variables in a configuration', () => {
  const target = createPool(settings.postgres.databaseUrl, 4);
  const source = createPool(settings.postgres.sourceDatabaseUrl, 2);
  const sourceAdmin = createPool(settings.postgres.sourceAdminUrl, 1);
  const s3 = createS3Client(settings.s3);
  // The source's owner, who could delete: the check, not a missing grant, must stop it.
  const env: NodeJS.ProcessEnv = { SOURCE_ERP_URL: settings.postgres.sourceAdminUrl, SOURCE_DOWN_URL: 'postgres://etl:s3cr3t-pw@127.0.0.1:1/erp' };
  const deps: SalesDeps = { target, source, s3, bucket: settings.s3.bucket, secret: (name, kind) => readSecret({ ...env, PATH: '/usr/bin:/secret/bin' }, name, kind ?? 'url') };
  const table = `victim_${randomUUID().slice(0, 8)}`;
  const extract = (source: Record<string, unknown>) => failure(new MockActivityEnvironment().run(extractSource, deps,
    sourceSchema.parse({ kind: 'database', name: 'erp', ...source }), 0, { workflowId: 'bad-queries', runId: randomUUID() },
    { date: '2026-03-16', runId: randomUUID() }));

  beforeAll(async () => {
    await migrate(target);
    await sourceAdmin.query(`CREATE TABLE ${table} (id int); INSERT INTO ${table} VALUES (1), (2)`);
  });
  afterAll(async () => {
    await sourceAdmin.query(`DROP TABLE IF EXISTS ${table}`);
    s3.destroy();
    await Promise.all([target.end(), source.end(), sourceAdmin.end()]);
  });

  it('a sales source query that is not one SELECT fails at once, saying so, and changes nothing', async () => {
    for (const [query, why] of [
      [`DELETE FROM ${table} RETURNING *`, /the query must be a single SELECT \(it starts with DELETE\)/],
      [`WITH gone AS (DELETE FROM ${table} RETURNING *) SELECT * FROM gone`, /the query must be a single SELECT \(it would change data\)/],
      [`SELECT 1) q; COMMIT; SET default_transaction_read_only = off; DROP TABLE ${table}; SELECT * FROM (SELECT 1`, /the query must be a single SELECT|syntax error/],
      [`SELECT * FROM ${table}; DROP TABLE ${table}`, /the query must be a single SELECT \(it holds several statements\)/],
    ] as const) {
      const error = await extract({ query, urlEnv: 'SOURCE_ERP_URL' });
      assert.ok(error instanceof ApplicationFailure && error.nonRetryable && error.type === ErrorType.InvalidInput, `${query}: ${String(error)}`);
      assert.match(error.message, /^source erp: /);
      assert.match(error.message, why);
    }
    assert.equal((await sourceAdmin.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n, 2, 'the table is untouched');
  });

  it('a campaign query that is not one SELECT fails the campaign, naming its file, and runs nothing', async () => {
    const campaign: Campaign = {
      ...campaignSchema.parse({ name: 'hostile', sqlFile: 'hostile.sql', sftpFolder: '/dialer/hostile', columns: [{ source: 'id', header: 'ID', format: 'text' }] }),
      sql: `DELETE FROM ${table} RETURNING id`,
    };
    const error = await failure(exportCampaign(sourceAdmin, campaign, 'America/Sao_Paulo', async (csv) => csv.resume()));
    assert.ok(error instanceof ApplicationFailure && error.type === ErrorType.CampaignQueryError && error.nonRetryable, String(error));
    assert.equal(error.message, 'campaign hostile, query campaigns/sql/hostile.sql: must be a single SELECT (it starts with DELETE)');
    assert.equal((await sourceAdmin.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n, 2);
  });

  it('a source may name only allow-listed variables, and a failure never shows a connection string', async () => {
    const refused = await extract({ query: 'SELECT 1 AS sale_id', urlEnv: 'PATH' });
    assert.ok(refused instanceof ApplicationFailure && refused.type === ErrorType.ConfigurationError && refused.nonRetryable, String(refused));
    assert.match(refused.message, /^source erp: urlEnv: the variable PATH may not be named here: a database URL comes from a variable matching SOURCE_\*_URL \(ETL_URL_ENV_ALLOW\)$/);
    assert.doesNotMatch(refused.message, /secret\/bin/);

    const down = await extract({ query: 'SELECT 1 AS sale_id', urlEnv: 'SOURCE_DOWN_URL' });
    assert.match(String(down.message), /^source erp: /);
    assert.doesNotMatch(String(down.message), /s3cr3t-pw/);

    assert.throws(() => readSecret({ AWS_SECRET_ACCESS_KEY: 'x' }, 'AWS_SECRET_ACCESS_KEY', 'token'), /matching \*_API_TOKEN \(ETL_TOKEN_ENV_ALLOW\)/);
    assert.equal(readSecret({ CRM_API_TOKEN: 't', ETL_TOKEN_ENV_ALLOW: 'CRM_*' }, 'CRM_API_TOKEN', 'token'), 't');
  });
});
