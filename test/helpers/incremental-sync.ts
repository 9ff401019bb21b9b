import type pg from 'pg';

/**
 * The rows on which source and target disagree (both ways, as `EXCEPT` would give them), for a table synced
 * under the same name. A key with several source rows counts by its newest one, as the merge does.
 * The databases are apart, so each side is read as text and compared here.
 */
export async function syncedRowsDiffer(
  source: pg.Pool, target: pg.Pool, table: string, { key = 'id', onlyInSourceIsLoss = false } = {},
): Promise<string[]> {
  const read = async (db: pg.Pool) => new Set((await db.query<{ row: string }>(
    `SELECT DISTINCT ON (${key}) to_jsonb(t)::text AS row FROM ${table} t ORDER BY ${key}, updated_at DESC NULLS LAST`)).rows.map((r) => r.row));
  const [inSource, inTarget] = await Promise.all([read(source), read(target)]);
  const missing = [...inSource].filter((row) => !inTarget.has(row)).map((row) => `only in source: ${row}`);
  if (onlyInSourceIsLoss) return missing;
  return [...missing, ...[...inTarget].filter((row) => !inSource.has(row)).map((row) => `only in target: ${row}`)];
}
