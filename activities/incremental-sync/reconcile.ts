import { pipeline } from 'node:stream/promises';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { parseTableName, qualified, quoteIdent, withTransaction } from '../../lib/io/postgres';
import { classifyDbError } from '../../lib/activity/errors';
import type { SyncPlan } from './plan';
import type { SyncDatabases } from './prepare';

export interface Reconciliation {
  rowsMissingAtSource: number;
  rowsDeleted: number;
}

/**
 * After a full reload: which target rows have no source row any more. They are counted, and deleted
 * only when the input asked for it. The source's keys are copied over once, then compared in one query.
 */
export async function reconcileMissingRows(db: SyncDatabases, plan: SyncPlan): Promise<Reconciliation> {
  try {
    const { rows: [done] } = await db.target.query(
      'SELECT rows_missing_at_source, rows_deleted FROM etl_control WHERE id = $1', [plan.controlId]);
    if (done.rows_missing_at_source !== null) {
      return { rowsMissingAtSource: Number(done.rows_missing_at_source), rowsDeleted: Number(done.rows_deleted) };
    }
    if (plan.targetWasEmpty) {
      // Every row of a table that was empty when the run began came from the source in this run.
      await db.target.query('UPDATE etl_control SET rows_missing_at_source = 0 WHERE id = $1', [plan.controlId]);
      return { rowsMissingAtSource: 0, rowsDeleted: 0 };
    }
    const keys = plan.keyColumns.map(quoteIdent).join(', ');
    const keysTable = plan.stagingTable.replace(/"$/, '_keys"');
    const target = qualified(parseTableName(plan.targetTable));
    return await withTransaction(db.target, async (client) => {
      const keyDefs = plan.keyColumns.map((k, i) => `${quoteIdent(k)} ${plan.keyTypes[i]}`).join(', ');
      await client.query(`DROP TABLE IF EXISTS ${keysTable}; CREATE UNLOGGED TABLE ${keysTable} (${keyDefs})`);
      const source = await db.source.connect();
      try {
        await pipeline(
          source.query(copyTo(`COPY (SELECT ${keys} FROM ${qualified(parseTableName(plan.sourceTable))}) TO STDOUT`)),
          client.query(copyFrom(`COPY ${keysTable} FROM STDIN`)),
        );
      } finally {
        source.release();
      }
      await client.query(`CREATE INDEX ON ${keysTable} (${keys}); ANALYZE ${keysTable}`);
      const missing = `FROM ${target} t WHERE NOT EXISTS (SELECT 1 FROM ${keysTable} k WHERE ${plan.keyColumns
        .map((k) => `k.${quoteIdent(k)} = t.${quoteIdent(k)}`).join(' AND ')})`;
      const { rows: [counted] } = await client.query<{ n: number }>(`SELECT count(*)::int AS n ${missing}`);
      const deleted = plan.options.deleteMissing
        ? ((await client.query(`DELETE ${missing}`)).rowCount ?? 0)
        : 0;
      await client.query(`UPDATE etl_control SET rows_missing_at_source = $2, rows_deleted = $3 WHERE id = $1`,
        [plan.controlId, counted.n, deleted]);
      await client.query(`DROP TABLE ${keysTable}`);
      return { rowsMissingAtSource: counted.n, rowsDeleted: deleted };
    });
  } catch (error) {
    throw classifyDbError(error, `reconciling ${plan.targetTable} with ${plan.sourceTable}`);
  }
}
