// The SQL of one batch: read the next keyset page from the source, check and merge it on the target.
import { escapeLiteral } from 'pg';
import { qualified, parseTableName, quoteIdent } from '../../lib/io/postgres';
import { loadExpression, nulledCondition, problemExpression, sourceSideLoadExpression } from './columns';
import type { SyncPlan } from './plan';

/**
 * Keyset order: incremental runs by updated_at walk (updated_at, key), from the updated_at index; full runs and
 * snapshot runs walk the key. Every comparison and sort happens on the source, under its own collation.
 */
export function cursorColumns(plan: SyncPlan): { names: string[]; types: string[] } {
  return plan.mode === 'incremental' && plan.changeDetection !== 'snapshot'
    ? { names: [plan.updatedAtColumn, ...plan.keyColumns], types: [plan.updatedAtType, ...plan.keyTypes] }
    : { names: plan.keyColumns, types: plan.keyTypes };
}

/** Where a run's reading stands: not started (null), after a keyset position, or done (rows with NULL keys included). */
export type Cursor = string[] | null | 'end';

const list = (names: string[], prefix = '') => names.map((n) => prefix + quoteIdent(n)).join(', ');

/** Which rows an incremental run reads; undefined for all of them. */
function changedRowsCondition(plan: SyncPlan): string | undefined {
  if (plan.mode !== 'incremental') return undefined;
  if (plan.changeDetection === 'snapshot') {
    // age() counts back from the same next xid for both sides, so this is "xmin at or after sinceXid" without
    // converting each row's 32-bit xmin to 64 bits (exact for every xid younger than 2^31, which prepareSync ensures).
    return plan.sinceXid ? `age(xmin) <= age(${escapeLiteral(plan.sinceXid)}::xid)` : undefined;
  }
  if (!plan.watermarkFrom) return undefined;
  return `${quoteIdent(plan.updatedAtColumn)} >= ${escapeLiteral(plan.watermarkFrom)}::timestamptz
      - make_interval(secs => ${plan.options.overlapSeconds})`;
}

/** COPY cannot take parameters, so the cursor's values are inlined as escaped literals cast to their types. */
const rowValue = (plan: SyncPlan, values: string[]) =>
  `(${values.map((value, i) => `${escapeLiteral(value)}::${cursorColumns(plan).types[i]}`).join(', ')})`;

/** The rows of the next keyset page: changed, after the cursor, with no NULL in the keyset columns. */
function pageConditions(plan: SyncPlan, after: string[] | null): string {
  const names = cursorColumns(plan).names;
  const conditions = [changedRowsCondition(plan), after ? `(${list(names)}) > ${rowValue(plan, after)}` : undefined,
    ...names.map((n) => `${quoteIdent(n)} IS NOT NULL`)];
  return conditions.filter(Boolean).join(' AND ');
}

const sourceTable = (plan: SyncPlan) => qualified(parseTableName(plan.sourceTable));

/**
 * The next page. With unique keys it is the next batchSize rows. Without, a key's rows may be many: the page
 * runs through `upTo` (the keyset position of its batchSize-th row, see pageEndSql) so that every row of a key
 * lands in the same batch, where the newest one wins.
 */
export function sourceCopySql(plan: SyncPlan, after: string[] | null, upTo?: string[]): string {
  const order = list(cursorColumns(plan).names);
  const through = upTo ? ` AND (${order}) <= ${rowValue(plan, upTo)}` : '';
  const limit = plan.keysUnique ? ` LIMIT ${plan.options.batchSize}` : '';
  return `COPY (SELECT ${list(plan.columns.map((c) => c.name))} FROM ${sourceTable(plan)}
    WHERE ${pageConditions(plan, after)}${through} ORDER BY ${order}${upTo ? '' : limit}) TO STDOUT`;
}

/**
 * A full load into a target that was empty needs no staging when the source can send every value as the target
 * takes it: each page is copied straight into the target (see copyPagesIntoTarget). Keys must be unique (no
 * versions to pick from) and sent as they are (they are the cursor).
 */
export function canCopyIntoTarget(plan: SyncPlan): boolean {
  return plan.targetWasEmpty && plan.keysUnique
    && plan.columns.every((c) => sourceSideLoadExpression(c) !== undefined)
    && plan.columns.every((c) => !plan.keyColumns.includes(c.name) || c.conversion === 'none');
}

/** The next page, as the target takes it (canCopyIntoTarget). */
export function sourceToTargetCopySql(plan: SyncPlan, after: string[] | null): string {
  const order = list(cursorColumns(plan).names);
  return `COPY (SELECT ${plan.columns.map((c) => sourceSideLoadExpression(c)!).join(', ')} FROM ${sourceTable(plan)} s
    WHERE ${pageConditions(plan, after)} ORDER BY ${order} LIMIT ${plan.options.batchSize}) TO STDOUT`;
}

/** batchSummarySql of a page copied straight into the target, read on the source in the COPY's snapshot. */
export const pageSummarySql = (plan: SyncPlan, after: string[] | null, through: string[]): string =>
  batchSummarySql(plan, sourceTable(plan), { after, through });

export const targetCopySql = (plan: SyncPlan): string =>
  `COPY ${qualified(parseTableName(plan.targetTable))} (${list(plan.columns.map((c) => c.name))}) FROM STDIN`;

/** The keyset position of the page's batchSize-th row, as the source's own text; no row when the page is the last. */
export function pageEndSql(plan: SyncPlan, after: string[] | null): string {
  const names = cursorColumns(plan).names;
  return `SELECT ARRAY[${names.map((n) => `${quoteIdent(n)}::text`).join(', ')}] AS position FROM ${sourceTable(plan)}
    WHERE ${pageConditions(plan, after)} ORDER BY ${list(names)} OFFSET ${plan.options.batchSize - 1} LIMIT 1`;
}

/** After the last page: the changed rows with a NULL in a keyset column (a NULL key is quarantined, not lost). */
export function nullKeysetCopySql(plan: SyncPlan): string {
  const names = cursorColumns(plan).names;
  const conditions = [changedRowsCondition(plan), `(${names.map((n) => `${quoteIdent(n)} IS NULL`).join(' OR ')})`];
  return `COPY (SELECT ${list(plan.columns.map((c) => c.name))} FROM ${sourceTable(plan)}
    WHERE ${conditions.filter(Boolean).join(' AND ')}) TO STDOUT`;
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
 * What the next steps need to know of a staged batch, in one pass: its newest updated_at, how many rows are
 * dated after the source's clock at the start of the run, and how many values will load as NULL. With `page`,
 * the same of a page read on the source (from after its start through its last row).
 */
export function batchSummarySql(plan: SyncPlan, table: string, page?: { after: string[] | null; through: string[] }): string {
  const nulled = nulledConditions(plan);
  const updatedAt = `s.${quoteIdent(plan.updatedAtColumn)}::timestamptz`;
  const future = plan.sourceNow ? `count(*) FILTER (WHERE ${updatedAt} > ${escapeLiteral(plan.sourceNow)}::timestamptz)` : '0';
  return `SELECT max(${updatedAt})::text AS newest, ${future}::int AS future,
         (${nulled.length ? nulled.map((n) => `count(*) FILTER (WHERE ${n})`).join(' + ') : '0'})::int AS nulled
    FROM ${table} s${page ? ` WHERE ${pageConditions(plan, page.after)} AND (${list(cursorColumns(plan).names)}) <= ${rowValue(plan, page.through)}` : ''}`;
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

/** The batch's rows as the target takes them: a key with several rows keeps its newest by updated_at. */
function loadSelect(plan: SyncPlan, table: string): string {
  const dedupe = plan.keysUnique ? '' : `DISTINCT ON (${list(plan.keyColumns, 's.')}) `;
  const dedupeOrder = plan.keysUnique ? '' : ` ORDER BY ${list(plan.keyColumns, 's.')}, s.${quoteIdent(plan.updatedAtColumn)} DESC NULLS LAST`;
  return `SELECT ${dedupe}${plan.columns.map((c) => `${loadExpression(c)} AS ${quoteIdent(c.name)}`).join(', ')}
        FROM ${table} s WHERE s._etl_problem IS NULL${dedupeOrder}`;
}

const updatableColumns = (plan: SyncPlan) => plan.columns.map((c) => c.name).filter((n) => !plan.keyColumns.includes(n));
/** Whether the source row `s` is newer than the target's `t` by updated_at (or the target's has none). */
const newer = (plan: SyncPlan, s: string) =>
  `t.${quoteIdent(plan.updatedAtColumn)} IS NULL OR t.${quoteIdent(plan.updatedAtColumn)} < ${s}.${quoteIdent(plan.updatedAtColumn)}`;
/** Whether two rows differ, compared as text: every type has one (json and point have no equality operator). */
const differs = (plan: SyncPlan, a: string, b: string) => {
  const row = (alias: string) => `ROW(${updatableColumns(plan).map((n) => `${alias}.${quoteIdent(n)}`).join(', ')})::text`;
  return `${row(a)} IS DISTINCT FROM ${row(b)}`;
};

/**
 * One statement inserts new keys and updates rows. An incremental run updates a row only where the source is
 * newer by updated_at: an older or equal source row never overwrites the target (see notAppliedSql). A full run
 * reads every row of every key, so the target takes the source's row wherever they differ, whatever its
 * updated_at says. Counts come back as inserted / updated. Into a target that was empty when the run began,
 * a plain INSERT does (every key of a full load is new there).
 */
export function mergeSql(plan: SyncPlan, table: string): string {
  const target = qualified(parseTableName(plan.targetTable));
  const names = plan.columns.map((c) => c.name);
  const select = loadSelect(plan, table);
  if (plan.targetWasEmpty) {
    return `INSERT INTO ${target} (${list(names)}) ${select}`;
  }
  const updatable = updatableColumns(plan);
  const onConflict = updatable.length
    ? `DO UPDATE SET ${updatable.map((n) => `${quoteIdent(n)} = EXCLUDED.${quoteIdent(n)}`).join(', ')}
       WHERE ${plan.mode === 'full' ? differs(plan, 't', 'EXCLUDED') : newer(plan, 'EXCLUDED')}`
    : 'DO NOTHING';
  return `WITH merged AS (
      INSERT INTO ${target} AS t (${list(names)})
      ${select}
      ON CONFLICT (${list(plan.keyColumns)}) ${onConflict}
      RETURNING (xmax = 0) AS inserted)
    SELECT count(*) FILTER (WHERE inserted)::int AS inserted, count(*) FILTER (WHERE NOT inserted)::int AS updated FROM merged`;
}

/**
 * An incremental run's rows that changed at the source but do not replace the target's, their updated_at not
 * newer (a clock put right after a row dated 2099, a backdated, cleared or unstamped change, a row edited in the
 * target): how many, and the first keys. Undefined where none can be: a full run, a key with several source rows
 * (its newest wins), a target that was empty.
 */
export function notAppliedSql(plan: SyncPlan, table: string): string | undefined {
  if (plan.mode === 'full' || plan.targetWasEmpty || !plan.keysUnique || !updatableColumns(plan).length) return undefined;
  const key = plan.keyColumns.map((k) => `t.${quoteIdent(k)}::text`).join(` || ', ' || `);
  return `SELECT count(*)::int AS rows, coalesce((array_agg(${key} ORDER BY ${list(plan.keyColumns, 't.')}))[1:5], '{}') AS keys
    FROM (${loadSelect(plan, table)}) s JOIN ${qualified(parseTableName(plan.targetTable))} t USING (${list(plan.keyColumns)})
    WHERE NOT coalesce(${newer(plan, 's')}, false) AND ${differs(plan, 't', 's')}`;
}
