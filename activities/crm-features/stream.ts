// crmFeaturesStream's activities: store the sources' clean transactions once (seed), and apply one batch file —
// clean it with the same rules, store its transactions, recompute only its users and merge them — in ONE
// transaction that also records the batch id, so a batch is applied exactly once whatever retries or crashes happen.
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { RunRef } from '../../lib/contracts/crm-features';
import { stagingTables } from '../../lib/contracts/crm-features';
import type { BatchApplied, BatchRef } from '../../lib/contracts/crm-features-stream';
import { withTransaction } from '../../lib/io/postgres';
import { parseS3Location } from '../../lib/io/s3';
import { type CrmDeps, copyLakeFile, createRawTable } from './extract';
import { FEATURES_TABLE } from './load';
import { cleanInto, FEATURE_COLUMNS, perUserSql, scoredSql } from './transform';
import { ErrorType } from '../../lib/workflow/errors';

export const STORED_TRANSACTIONS = 'ml_features.clean_transactions';
const STORED_COLUMNS = 'transaction_id, user_id, amount, transaction_type, created_at, game_type, channel, source';
// Any constant works: batches are merged one at a time, so each one ranks its users among settled features.
const STREAM_LOCK = 7_233_006;

/** Stores the clean transactions of a run (the stream's seed); ids stored before keep their row. Safe to run twice. */
export async function storeCleanTransactions(deps: CrmDeps, run: RunRef): Promise<number> {
  const { clean } = stagingTables(run.runId);
  const stored = await deps.target.query(`INSERT INTO ${STORED_TRANSACTIONS} (${STORED_COLUMNS})
    SELECT ${STORED_COLUMNS} FROM ${clean} ON CONFLICT (transaction_id) DO NOTHING`);
  return Number(stored.rowCount);
}

export interface BatchRequest {
  streamId: string;
  batch: BatchRef;
  asOf: string;
  ticketCutoffs: { medio: number; alto: number };
}

export async function applyBatch(deps: CrmDeps, { streamId, batch, asOf, ticketCutoffs }: BatchRequest): Promise<BatchApplied> {
  const before = await appliedBefore(deps, batch.batchId);
  if (before) return before;
  const location = parseS3Location(batch.key, deps.bucket);
  if (!location || !/\.(parquet|csv|jsonl?|ndjson)$/i.test(location.key)) {
    throw ApplicationFailure.nonRetryable(`batch ${batch.batchId}: "${batch.key}" is not an S3 .parquet, .csv or .json/.jsonl file`, ErrorType.InvalidInput);
  }
  // Staging tables named after the batch id's hash (an id may hold characters a table name cannot).
  const tables = stagingTables(createHash('sha1').update(batch.batchId).digest('hex'));
  try {
    await createRawTable(deps, tables.raw);
    await copyLakeFile(deps, location.bucket, location.key, tables.raw).catch((error: Error) => {
      if (error.name === 'NoSuchKey') throw ApplicationFailure.nonRetryable(`batch ${batch.batchId}: no file at ${batch.key}`, ErrorType.InvalidInput);
      throw error;
    });
    return await withTransaction(deps.target, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [STREAM_LOCK]);
      const claimed = await client.query(`INSERT INTO ml_features.stream_batches (batch_id, stream_id, s3_key, rows, quarantined, users)
        VALUES ($1, $2, $3, 0, 0, 0) ON CONFLICT (batch_id) DO NOTHING`, [batch.batchId, streamId, batch.key]);
      // Another attempt or stream applied it meanwhile (it held the lock): nothing to do.
      if (!claimed.rowCount) return (await appliedBefore(deps, batch.batchId))!;
      const cleaned = await cleanInto(client, {
        raw: tables.raw, clean: tables.clean, run: { workflowId: streamId, runId: `batch:${batch.batchId}` },
        pipeline: 'crmFeaturesStream', preferredSource: batch.key, asOf, storedTransactions: STORED_TRANSACTIONS,
      });
      await client.query(`INSERT INTO ${STORED_TRANSACTIONS} (${STORED_COLUMNS}) SELECT ${STORED_COLUMNS} FROM ${tables.clean}`);
      // The batch's users, recomputed from ALL their stored transactions, ranked among every loaded user, merged.
      const users = `(SELECT DISTINCT user_id FROM ${tables.clean})`;
      const perUser = `${tables.features}_per_user`;
      await client.query(`CREATE UNLOGGED TABLE ${perUser} AS ${perUserSql(`(SELECT * FROM ${STORED_TRANSACTIONS} WHERE user_id IN ${users})`)}`, [asOf]);
      await client.query(`CREATE UNLOGGED TABLE ${tables.features} AS ${scoredSql(perUser, { population: FEATURES_TABLE })}`,
        [asOf, ticketCutoffs.medio, ticketCutoffs.alto]);
      const cols = FEATURE_COLUMNS.join(', ');
      const merged = await client.query(`INSERT INTO ${FEATURES_TABLE} (${cols}, updated_at) SELECT ${cols}, now() FROM ${tables.features}
        ON CONFLICT (user_id) DO UPDATE SET ${FEATURE_COLUMNS.slice(1).map((c) => `${c} = EXCLUDED.${c}`).join(', ')}, updated_at = now()`);
      await client.query('UPDATE ml_features.stream_batches SET rows = $2, quarantined = $3, users = $4 WHERE batch_id = $1',
        [batch.batchId, cleaned.rows, cleaned.quarantined, merged.rowCount]);
      return { batchId: batch.batchId, duplicate: false, rows: cleaned.rows, quarantined: cleaned.quarantined, users: Number(merged.rowCount) };
    });
  } finally {
    await deps.target.query(`DROP TABLE IF EXISTS ${tables.raw}, ${tables.clean}, ${tables.features}, ${tables.features}_per_user`);
  }
}

async function appliedBefore(deps: CrmDeps, batchId: string): Promise<BatchApplied | undefined> {
  const { rows } = await deps.target.query<{ rows: number; quarantined: number; users: number }>(
    'SELECT rows, quarantined, users FROM ml_features.stream_batches WHERE batch_id = $1', [batchId]);
  return rows[0] && { batchId, duplicate: true, rows: rows[0].rows, quarantined: rows[0].quarantined, users: rows[0].users };
}
