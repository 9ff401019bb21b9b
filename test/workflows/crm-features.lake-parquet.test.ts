// A Parquet lake file is read from S3 by byte ranges, one row group at a time (the worker's memory holds a row
// group, not the file): every row arrives once, and a file replaced between two row groups fails the attempt
// (retryable) instead of staging rows of two versions.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { copyLakeFile, createRawTable, type CrmDeps } from '../../activities/crm-features/extract';
import { stagingTables } from '../../lib/contracts/crm-features';
import { createPool } from '../../lib/io/postgres';
import { createS3Client } from '../../lib/io/s3';
import { putLakeFile, toParquet, type TransactionRow } from '../../lib/sample-data/crm-features';
import { ErrorType } from '../../lib/workflow/errors';
import { openTestContext, settings, type TestContext } from '../helpers/env';

const ROWS = 20_000;
const ROW_GROUP = 5_000;

const transactions = (version: string): TransactionRow[] => Array.from({ length: ROWS }, (_, i) => ({
  transaction_id: randomUUID(), user_id: `pq-${version}-${i % 97}`, amount: `${(i % 500) + 0.25}`, transaction_type: 'bet', status: 'completed',
  created_at: '2026-03-10 10:00:00', game_type: i % 3 ? 'slots' : null, channel: 'sms',
}));

/** The S3 client, with every GET it sends recorded (and `beforeRange` awaited before the nth ranged GET is sent). */
function watched(s3: S3Client, beforeRange?: { nth: number; run: () => Promise<void> }) {
  const gets: Array<{ range?: string; bytes?: number }> = [];
  const client = {
    async send(command: Parameters<S3Client['send']>[0]) {
      if (command instanceof GetObjectCommand) {
        const range = command.input.Range;
        if (range && beforeRange && gets.filter((g) => g.range).length + 1 === beforeRange.nth) await beforeRange.run();
        gets.push({ range, bytes: undefined });
        const answer = await s3.send(command);
        gets.at(-1)!.bytes = answer.ContentLength;
        return answer;
      }
      return s3.send(command);
    },
  } as unknown as S3Client;
  return { client, gets };
}

describe('a Parquet lake file of several row groups', () => {
  let ctx: TestContext;
  const s3 = createS3Client(settings.s3);
  const source = createPool(settings.postgres.sourceDatabaseUrl, 1);
  const deps = (client: S3Client): CrmDeps => ({ target: ctx.target, source, s3: client, bucket: settings.s3.bucket });

  beforeAll(async () => {
    ctx = await openTestContext('crm-lake-parquet', { worker: false });
  });
  afterAll(async () => {
    s3.destroy();
    await source.end();
    await ctx?.close();
  });

  it('is staged whole, every row once with its values, read in parts of the file rather than whole', async () => {
    const key = `lake/pq-${randomUUID()}/part-0.parquet`;
    const rows = transactions('a');
    const body = await toParquet(rows, ROW_GROUP);
    await putLakeFile(s3, settings.s3.bucket, key, body);
    const raw = stagingTables(randomUUID()).raw;
    await createRawTable(deps(s3), raw);
    const { client, gets } = watched(s3);

    const copied = await copyLakeFile(deps(client), settings.s3.bucket, key, raw);

    assert.equal(copied.rows, ROWS);
    assert.equal(copied.size, body.length);
    const { rows: [staged] } = await ctx.target.query<{ n: number; ids: number; amounts: number; games: number }>(`SELECT count(*)::int AS n,
      count(DISTINCT transaction_id)::int AS ids, sum(amount::numeric)::float8 AS amounts, count(game_type)::int AS games FROM ${raw} WHERE source = $1`, [key]);
    const { rows: [{ missing }] } = await ctx.target.query<{ missing: number }>(`SELECT count(*)::int AS missing FROM unnest($1::text[]) id
      WHERE NOT EXISTS (SELECT 1 FROM ${raw} r WHERE r.transaction_id = id)`, [rows.map((r) => r.transaction_id)]);
    assert.deepEqual({ ...staged, missing }, {
      n: ROWS, ids: ROWS, amounts: rows.reduce((sum, r) => sum + Number(r.amount), 0), games: rows.filter((r) => r.game_type).length, missing: 0,
    });
    // The worker never asked for the whole file at once: the footer, then each row group's bytes.
    assert.ok(gets.length >= 1 + ROWS / ROW_GROUP, `one request per row group at least: ${JSON.stringify(gets)}`);
    assert.ok(gets.every((g) => g.range && g.bytes! < body.length), `each request a part of the file: ${JSON.stringify(gets)}`);
    await ctx.target.query(`DROP TABLE ${raw}`);
  });

  it('replaced between two row groups, fails the attempt (retryable, naming the file) and stages none of its rows', async () => {
    const key = `lake/pq-${randomUUID()}/part-0.parquet`;
    await putLakeFile(s3, settings.s3.bucket, key, await toParquet(transactions('old'), ROW_GROUP));
    const raw = stagingTables(randomUUID()).raw;
    await createRawTable(deps(s3), raw);
    // Ranged GETs: the footer, the first row group, then the file is replaced before the second row group is asked for.
    const replacement = await toParquet(transactions('new'), ROW_GROUP);
    const { client } = watched(s3, { nth: 3, run: () => putLakeFile(s3, settings.s3.bucket, key, replacement) });

    const error = await copyLakeFile(deps(client), settings.s3.bucket, key, raw).then(() => undefined, (e: unknown) => e);

    assert.ok(error instanceof ApplicationFailure && error.type === ErrorType.SourceChanged && !error.nonRetryable,
      `a retryable failure: ${String(error)}`);
    assert.match(error.message, new RegExp(key.replace(/[.]/g, '\\.')));
    const { rows: [{ n }] } = await ctx.target.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${raw}`);
    assert.equal(n, 0, 'no row of either version staged');
    await ctx.target.query(`DROP TABLE ${raw}`);
  });
});
