// A crmFeatures extract attempt that fails must leave nothing behind for the next attempt to wait on: its copies run
// side by side, and one failing used to leave the others' `COPY ... FROM STDIN` open on the staging table, so the
// retry's DROP TABLE waited on it forever. And an S3 server dying while a lake file's body waits to be read fails
// that copy, not the whole process. A copy of the extract shared by workers, retried, replaces what its first
// attempt staged.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import {
  copyLakeFile, createRawTable, extractFiles, extractTable, extractTransactions, type SourceCopy, startExtract, type CrmDeps, type Extracted,
} from '../../activities/crm-features/extract';
import { crmFeaturesInputSchema, stagingTables } from '../../lib/contracts/crm-features';
import { asConnectionFailure } from '../../lib/activity/errors';
import { createPool } from '../../lib/io/postgres';
import { createS3Client } from '../../lib/io/s3';
import { putLakeFile, toCsv } from '../../lib/sample-data/crm-features';
import { ErrorType } from '../../lib/workflow/errors';
import { handChecked, writeDataset } from '../helpers/crm-features';
import { openTestContext, settings, uniqueId, type TestContext } from '../helpers/env';
import { startPrivateServers, type PrivateServers } from '../helpers/faults';

describe('a failed crmFeatures extract attempt', () => {
  let ctx: TestContext;
  const s3 = createS3Client(settings.s3);
  const source = createPool(settings.postgres.sourceDatabaseUrl, 2);
  let deps: CrmDeps;

  beforeAll(async () => {
    ctx = await openTestContext('crm-failed-attempt', { worker: false });
    deps = { target: ctx.target, source, s3, bucket: settings.s3.bucket };
  });
  afterAll(async () => {
    s3.destroy();
    await source.end();
    await ctx?.close();
  });

  it('closes the connections of its other copies, so the retry neither waits on them nor loads twice', async () => {
    const p = `${uniqueId('fa')}-`;
    const table = `crm_fa_${p.slice(3, 11)}`;
    const data = handChecked(p);
    await writeDataset({ sourceAdmin: ctx.sourceAdmin, s3, bucket: settings.s3.bucket }, table, `lake/${p}`, data, ['json']);
    // A lake file that cannot be read, and the source table held, so the source copy is mid-COPY when that file fails.
    await putLakeFile(s3, settings.s3.bucket, `lake/${p}part-9.parquet`, Buffer.from('not parquet at all'));
    const blocker = await ctx.sourceAdmin.connect();
    await blocker.query('BEGIN');
    await blocker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    const run = { workflowId: 'crm-failed-attempt', runId: randomUUID() };
    const options = crmFeaturesInputSchema.parse({ sourceTable: table, lakePrefix: `s3:lake/${p}` });
    const first = await new MockActivityEnvironment().run(extractTransactions, deps, options, run).then(() => undefined, (error: unknown) => error);
    await blocker.query('ROLLBACK');
    blocker.release();
    assert.ok(first instanceof ApplicationFailure && first.type === ErrorType.InvalidInput && first.nonRetryable,
      `an unreadable lake file fails at once, naming it: ${String(first)}`);
    assert.match(first.message, /part-9\.parquet/);

    // The next attempt (the file fixed) recreates the staging table: nothing of the first attempt holds it.
    await s3.send(new DeleteObjectCommand({ Bucket: settings.s3.bucket, Key: `lake/${p}part-9.parquet` }));
    const second = await new MockActivityEnvironment().run(extractTransactions, deps, options, run) as Extracted;
    assert.equal(second.rows, data.source.length + data.lake.length + data.bad.length);
    const { rows } = await ctx.target.query(`SELECT count(*)::int AS n FROM ${stagingTables(run.runId).raw}`);
    assert.equal(rows[0].n, second.rows, 'each row staged once');
    await ctx.target.query(`DROP TABLE ${stagingTables(run.runId).raw}`);
  });

  it('a retried copy of the shared extract (the table, a lake part) replaces what its first attempt staged: each row once', async () => {
    const p = `${uniqueId('rt')}-`;
    const table = `crm_rt_${p.slice(3, 11)}`;
    await writeDataset({ sourceAdmin: ctx.sourceAdmin, s3, bucket: settings.s3.bucket }, table, `lake/${p}`, handChecked(p), ['csv', 'json']);
    const run = { workflowId: 'crm-retried-copy', runId: randomUUID() };
    const options = crmFeaturesInputSchema.parse({ sourceTable: table, lakePrefix: `s3:lake/${p}` });
    const plan = await startExtract(deps, options, run);
    const copyAll = async (attempt: number) => {
      const env = new MockActivityEnvironment({ attempt });
      return [await env.run(extractTable, deps, options, run) as SourceCopy, ...await env.run(extractFiles, deps, options, run, plan.bucket, plan.parts.flat()) as SourceCopy[]];
    };
    const first = await copyAll(1);
    const retried = await copyAll(2);
    assert.deepEqual(retried.map((c) => c.rows), first.map((c) => c.rows));
    const raw = stagingTables(run.runId).raw;
    const { rows } = await ctx.target.query<{ source: string; n: number }>(`SELECT source, count(*)::int AS n FROM ${raw} GROUP BY source`);
    assert.deepEqual(Object.fromEntries(rows.map((r) => [r.source, r.n])), { [table]: 11, [`lake/${p}part-0.csv`]: 7, [`lake/${p}part-1.json`]: 6 });
    await ctx.target.query(`DROP TABLE ${raw}`);
  });

  describe('with an S3 server of its own', () => {
    let servers: PrivateServers;
    beforeAll(async () => {
      servers = await startPrivateServers('crm-s3-abort', ['s3']);
    });
    afterAll(async () => {
      await servers?.stop();
    });

    it('fails the copy with a ConnectionError when the server dies before its body is read, and the process lives on', async () => {
      const lake = createS3Client(servers.settings.s3);
      const target = createPool(settings.postgres.databaseUrl, 1);
      try {
        const key = `lake/big-${randomUUID()}.csv`;
        const rows = Array.from({ length: 200_000 }, (_, i) => handChecked(`big${i}-`).lake[0]);
        await putLakeFile(lake, settings.s3.bucket, key, toCsv(rows));
        const raw = stagingTables(randomUUID()).raw;
        await createRawTable({ ...deps, target }, raw);
        // The pool's one connection is taken: the copy gets its body, then waits for a connection while S3 dies.
        const held = await target.connect();
        const copy = copyLakeFile({ target, source, s3: lake, bucket: settings.s3.bucket }, settings.s3.bucket, key, raw).then(() => undefined, (e: unknown) => e);
        for (let i = 0; i < 100 && target.waitingCount === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(target.waitingCount, 1, 'the copy waits for a connection');
        await servers.crash('s3');
        held.release();
        const error = await copy;
        const failure = asConnectionFailure(error);
        assert.ok(failure instanceof ApplicationFailure && failure.type === ErrorType.ConnectionError, `a ConnectionError: ${String(error)}`);
        await target.query(`DROP TABLE ${raw}`);
      } finally {
        lake.destroy();
        await target.end();
      }
    });
  });
});
