// The SQL of one batch: read the next keyset page from the source, check and merge it on the target.
import { escapeLiteral } from 'pg';
import { qualified, parseTableName, quoteIdent } from '../../lib/io/postgres';
import { loadExpression, nulledCondition, problemExpression } from './columns';
import type { SyncPlan } from './plan';

/** Keyset order: incremental runs walk (updated_at, key); full runs walk the key. */
export function cursorColumns(plan: SyncPlan): { names: string[]; types: string[] } {
  return plan.mode === 'incremental'
    ? { names: [plan.updatedAtColumn, ...plan.keyColumns], types: [plan.updatedAtType, ...plan.keyTypes] }
    : { names: plan.keyColumns, types: plan.keyTypes };
}

const list = (names: string[], prefix = '') => names.map((n) => prefix + quoteIdent(n)).join(', ');

/** COPY cannot take parameters, so the cursor's values are inlined as escaped literals cast to their types. */
export function sourceCopySql(plan: SyncPlan, cursor: string[] | null): string {
  const order = cursorColumns(plan);
  const conditions: string[] = [];
  if (cursor) {
    const values = cursor.map((value, i) => `${escapeLiteral(value)}::${order.types[i]}`);
    conditions.push(`(${list(order.names)}) > (${values.join(', ')})`);
  } else if (plan.mode === 'incremental' && plan.watermarkFrom) {
    conditions.push(`${quoteIdent(plan.updatedAtColumn)} >= ${escapeLiteral(plan.watermarkFrom)}::timestamptz
      - make_interval(secs => ${plan.options.overlapSeconds})`);
  }
  const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
  return `COPY (SELECT ${list(plan.columns.map((c) => c.name))} FROM ${qualified(parseTableName(plan.sourceTable))}
    ${where} ORDER BY ${list(order.names)} LIMIT ${plan.options.batchSize}) TO STDOUT`;
}

/** Two staging tables per run: one is merged while the next batch is copied into the other. */
export function stagingTables(plan: SyncPlan): [string, string] {
  // Runs planned before the shared staging names carry a quoted name (`"sync_<workflow>_<digest>"`).
  const name = plan.stagingTable;
  return [name, name.endsWith('"') ? name.replace(/"$/, '_b"') : `${name}_b`];
}

export function createStagingSql(plan: SyncPlan, table: string): string {
  const columns = plan.columns.map((c) => `${quoteIdent(c.name)} ${c.sourceType}`);
  return `CREATE UNLOGGED TABLE IF NOT EXISTS ${table} (${columns.join(', ')}, _etl_problem text)`;
}

export const stagingCopySql = (plan: SyncPlan, table: string): string =>
  `COPY ${table} (${list(plan.columns.map((c) => c.name))}) FROM STDIN`;

/** One condition per column whose non-NULL value will load as NULL (NaN, NaT, '' ...). */
const nulledConditions = (plan: SyncPlan): string[] =>
  plan.columns.map(nulledCondition).filter((n): n is string => Boolean(n));

/**
 * What the next steps need to know of a staged batch, in one pass: its last row in keyset order (where
 * the next batch starts), its newest updated_at, and how many values will load as NULL.
 */
export function batchSummarySql(plan: SyncPlan, table: string): string {
  const names = cursorColumns(plan).names;
  const nulled = nulledConditions(plan);
  // A one-column keyset (a full load by id) needs no sort: its last row is the maximum.
  const cursor = names.length === 1
    ? `ARRAY[max(s.${quoteIdent(names[0])})::text]`
    : `(SELECT ARRAY[${names.map((n) => `${quoteIdent(n)}::text`).join(', ')}] FROM ${table}
         ORDER BY ${names.map((n) => `${quoteIdent(n)} DESC`).join(', ')} LIMIT 1)`;
  return `SELECT ${cursor} AS cursor,
         max(s.${quoteIdent(plan.updatedAtColumn)})::timestamptz::text AS newest,
         (${nulled.length ? nulled.map((n) => `count(*) FILTER (WHERE ${n})`).join(' + ') : '0'})::int AS nulled
    FROM ${table} s`;
}

/**
 * One pass over the batch: how many values will load as NULL, and which rows cannot load and why.
 * Undefined when no column needs checking.
 */
export function checkSql(plan: SyncPlan, table: string): string | undefined {
  const problems = plan.columns
    .map((c) => problemExpression(c, plan.keyColumns.includes(c.name)))
    .filter((p): p is string => Boolean(p));
  const nulled = nulledConditions(plan);
  if (!problems.length && !nulled.length) return undefined;
  return `SELECT coalesce(sum(nulled) FILTER (WHERE problem = ''), 0)::int AS nulled,
         coalesce(array_agg(id::text) FILTER (WHERE problem <> ''), '{}') AS bad,
         coalesce(array_agg(problem) FILTER (WHERE problem <> ''), '{}') AS reasons
    FROM (SELECT s.ctid AS id,
                 ${nulled.length ? nulled.map((n) => `coalesce((${n})::int, 0)`).join(' + ') : '0'} AS nulled,
                 ${problems.length ? `concat_ws('; ', ${problems.join(', ')})` : `''`} AS problem
            FROM ${table} s) checked`;
}

export const markProblemsSql = (table: string): string =>
  `UPDATE ${table} s SET _etl_problem = p.reason FROM unnest($1::tid[], $2::text[]) AS p(id, reason) WHERE s.ctid = p.id`;

export function quarantineSql(table: string): string {
  return `INSERT INTO etl_quarantine (pipeline, workflow_id, run_id, source_table, row_data, reason)
    SELECT 'incrementalSync', $1, $2, $3, to_jsonb(s) - '_etl_problem', s._etl_problem
      FROM ${table} s WHERE s._etl_problem IS NOT NULL`;
}

/**
 * One statement inserts new keys and updates rows only where the source is newer: an older or equal
 * source row never overwrites the target. Counts come back as inserted / updated. Into a target that
 * was empty when the run began, a plain INSERT does (every key of a full load is new there).
 */
export function mergeSql(plan: SyncPlan, table: string): string {
  const target = qualified(parseTableName(plan.targetTable));
  const names = plan.columns.map((c) => c.name);
  const updatedAt = quoteIdent(plan.updatedAtColumn);
  const keys = list(plan.keyColumns);
  const dedupe = plan.keysUnique ? '' : `DISTINCT ON (${list(plan.keyColumns, 's.')}) `;
  const dedupeOrder = plan.keysUnique ? '' : `ORDER BY ${list(plan.keyColumns, 's.')}, s.${updatedAt} DESC NULLS LAST`;
  const select = `SELECT ${dedupe}${plan.columns.map(loadExpression).join(', ')}
        FROM ${table} s WHERE s._etl_problem IS NULL ${dedupeOrder}`;
  if (plan.targetWasEmpty) {
    return `INSERT INTO ${target} (${list(names)}) ${select}`;
  }
  const updatable = names.filter((n) => !plan.keyColumns.includes(n));
  const onConflict = updatable.length
    ? `DO UPDATE SET ${updatable.map((n) => `${quoteIdent(n)} = EXCLUDED.${quoteIdent(n)}`).join(', ')}
       WHERE t.${updatedAt} IS NULL OR t.${updatedAt} < EXCLUDED.${updatedAt}`
    : 'DO NOTHING';
  return `WITH merged AS (
      INSERT INTO ${target} AS t (${list(names)})
      ${select}
      ON CONFLICT (${keys}) ${onConflict}
      RETURNING (xmax = 0) AS inserted)
    SELECT count(*) FILTER (WHERE inserted)::int AS inserted, count(*) FILTER (WHERE NOT inserted)::int AS updated FROM merged`;
}
