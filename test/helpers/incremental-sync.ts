import type pg from 'pg';

/**
 * The rows on which source and target disagree (both ways, as `EXCEPT` would give them), for a table synced
 * under the same name. A key with several source rows counts by its newest one, as the merge does.
 * The databases are apart, so each side is read as text and compared here. `sourceColumns` gives a SQL expression
 * for a source column whose target type differs (a text date loaded as timestamptz), so both sides read alike.
 */
export async function syncedRowsDiffer(
  source: pg.Pool, target: pg.Pool, table: string, { key = 'id', onlyInSourceIsLoss = false, sourceColumns = {} as Record<string, string> } = {},
): Promise<string[]> {
  const read = async (db: pg.Pool, columns: Record<string, string>) => {
    const overrides = Object.entries(columns).map(([name, sql]) => `, '${name}', ${sql}`).join('');
    const row = overrides ? `(to_jsonb(t) || jsonb_build_object(${overrides.slice(2)}))` : 'to_jsonb(t)';
    return new Set((await db.query<{ row: string }>(
      `SELECT DISTINCT ON (${key}) ${row}::text AS row FROM ${table} t ORDER BY ${key}, updated_at DESC NULLS LAST`)).rows.map((r) => r.row));
  };
  const [inSource, inTarget] = await Promise.all([read(source, sourceColumns), read(target, {})]);
  const missing = [...inSource].filter((row) => !inTarget.has(row)).map((row) => `only in source: ${row}`);
  if (onlyInSourceIsLoss) return missing;
  return [...missing, ...[...inTarget].filter((row) => !inSource.has(row)).map((row) => `only in target: ${row}`)];
}
