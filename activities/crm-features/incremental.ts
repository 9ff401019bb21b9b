// crmFeatures' incremental mode (docs/pipelines/crm-features.md#incremental-mode). A run reads only what changed since
// the last successful incremental run: table rows written by transactions not yet finished when that run read the
// table (its snapshot's xmin, as incrementalSync's snapshot mode) and lake files that are new or whose ETag or size
// changed. Only the users those rows touch are recomputed from their transactions; every other user's time windows
// are moved to the new asOf from stored per-user aggregates, and the ranks are taken over all users again. The state
// (every valid copy of every transaction, per-user aggregates, the files read, the snapshot) changes only in the
// load's transaction, so a run stopped by the quality gate or a failure leaves it as it was.
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import { type CrmFeaturesOptions, type IncrementalPlan, type RunRef, stagingTables } from '../../lib/contracts/crm-features';
import { quoteIdent, stagingDdl, withLocalSettings, withTransaction } from '../../lib/io/postgres';
import { ErrorType } from '../../lib/workflow/errors';
import {
  type CrmDeps, type Extracted, type ExtractPlan, extractTransactions, finishExtract, type LakeObject, lakeLocation, listLakeObjects, OPTIONAL_COLUMNS,
  type SourceCopy, type SourceRead, sourceTableColumns, startExtract,
} from './extract';
import {
  BIG_SORTS, CLEAN_VALUES, type Cleaned, classifiedTable, classifySql, cleanTransactions, computeFeatures, FEATURES_NEEDING, inParts, PARTS, perUserSql,
  scoreInParts, settleClean, type Transformed, type UnavailableFeatures,
} from './transform';

const STATE_TABLE = 'ml_features.incremental_state';
// Bumped when what the state holds changes meaning: a state built by another version is rebuilt.
// 2: the copies' user and created_at indexes cover the columns the per-user pass and the window shift read (and the
// copies are vacuumed once built).
const STATE_VERSION = 2;

/** The stored state of one dataset (sources). */
export const stateTables = (stateId: string) => ({
  copies: `ml_features.crm_inc_${stateId}_copies`,
  rejects: `ml_features.crm_inc_${stateId}_rejects`,
  aggregates: `ml_features.crm_inc_${stateId}_aggregates`,
  files: `ml_features.crm_inc_${stateId}_files`,
});

/** This run's work tables besides raw/clean/features (dropped with them). */
export const incrementalStaging = (runId: string) => {
  const { raw, clean, features } = stagingTables(runId);
  return {
    files: `${raw}_files`, classified: classifiedTable(clean), touched: `${clean}_touched`, copies: `${clean}_copies`,
    rejects: `${clean}_rejects`, affected: `${clean}_affected`, perUser: `${features}_per_user`, aggregates: `${features}_next_agg`,
    shift: `${features}_shift`,
  };
};

/** Every valid copy of a transaction (a copy loses to another by the clean step's duplicate rule, or is dated after asOf). */
const COPY_COLUMNS = ['transaction_id', 'raw_id', 'source', 'created_at_text', 'user_id', 'amount', 'transaction_type', 'created_at', 'game_type',
  'channel', 'effective'];
// The clean step's duplicate rule (the table's copy, then by source, then by the date as written), then every value
// so that identical copies give one answer; a copy dated after asOf is never the one that counts.
const winnerOrder = (asOf: string, table: string) => `ORDER BY (created_at <= ${asOf}::timestamp) DESC, (source = ${table}) DESC, source,
  created_at_text, user_id, amount, transaction_type, created_at, game_type, channel`;
// The classified rows that are valid copies: clean, or valid but dated after asOf, or a duplicate's losing copy.
const VALID_COPY = "(reason IS NULL OR reason IN ('future created_at', 'duplicate transaction_id'))";

/**
 * `work` with hash and merge joins off: this run's few thousand rows probed one by one through the stored copies'
 * indexes. Left to itself the planner hash-joins a full scan of the millions of stored copies (without statistics on
 * this run's tables it guesses, and with them a scan still looks cheaper than 50k probes, though it reads every page).
 */
const probingByIndex = <T>(client: pg.PoolClient, work: () => Promise<T>): Promise<T> =>
  withLocalSettings(client, { enable_hashjoin: 'off', enable_mergejoin: 'off' }, work);

const datasetOf = (options: CrmFeaturesOptions) => `${options.sourceTable}|${options.lakePrefix}`;
const sha = (text: string) => createHash('sha1').update(text).digest('hex');
/** What the stored aggregates depend on: a change to the formulas, the cleaning or the amounts' locale rebuilds them. */
const signatureOf = (options: CrmFeaturesOptions) => sha(JSON.stringify({
  version: STATE_VERSION, numberLocale: options.numberLocale ?? null, perUser: perUserSql('t'), classify: classifySql('r'), clean: CLEAN_VALUES,
}));

interface StateRow {
  generation: number;
  as_of: string;
  source_snapshot: string;
  table_rows: number;
  signature: string;
  applied_by: string;
}

async function readState(db: pg.Pool | pg.PoolClient, dataset: string): Promise<StateRow | undefined> {
  const { rows } = await db.query<StateRow>(`SELECT generation::int, to_char(as_of, 'YYYY-MM-DD"T"HH24:MI:SS.US') AS as_of, source_snapshot,
      table_rows::int, signature, applied_by FROM ${STATE_TABLE} WHERE dataset = $1`, [dataset]);
  return rows[0];
}

// Beyond this many transactions since the previous run, 32-bit xmin values could wrap: the run reads everything.
const XID_WINDOW = 2n ** 31n - 10_000_000n;

/** Why this run cannot be incremental (everything is then read and the state rebuilt), or undefined. */
async function rebuildReason(deps: CrmDeps, options: CrmFeaturesOptions, state: StateRow | undefined, stateId: string, asOf: string): Promise<string | undefined> {
  if (!state) return 'first incremental run on these sources: nothing stored yet';
  if (state.signature !== signatureOf(options)) return 'the feature formulas, the cleaning rules, numberLocale or the stored state\'s layout changed since it was built';
  if (Date.parse(`${asOf}Z`) < Date.parse(`${state.as_of}Z`)) return `asOf ${asOf} is before the last incremental run's (${state.as_of})`;
  const tables = stateTables(stateId);
  const { rows: [present] } = await deps.target.query<{ n: number }>(`SELECT count(to_regclass(t))::int AS n FROM unnest($1::text[]) t`,
    [Object.values(tables)]);
  if (present.n !== 4) return 'the stored state tables are missing';
  const { rows: [source] } = await deps.source.query<{ kind: string | null; unique_id: boolean; xmax: string }>(`SELECT c.relkind::text AS kind,
      EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
              WHERE i.indrelid = c.oid AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL AND a.attname = 'transaction_id') AS unique_id,
      pg_snapshot_xmax(pg_current_snapshot())::text AS xmax
    FROM (SELECT to_regclass($1) AS oid) r LEFT JOIN pg_class c ON c.oid = r.oid`, [quoteIdent(options.sourceTable)]);
  if (!source.kind || !['r', 'p'].includes(source.kind)) return `${options.sourceTable} is not a table (a view's rows carry no transaction id)`;
  if (!source.unique_id) return `${options.sourceTable} has no unique index on transaction_id: a changed row cannot be told from a new one`;
  if (BigInt(source.xmax) - BigInt(state.source_snapshot.split(':')[0]) >= XID_WINDOW) return 'more than 2^31 transactions on the source since the last run';
  return undefined;
}

/** The previous snapshot's oldest unfinished transaction, as a 32-bit xid: every row written since has an xmin at least as new. */
const sinceXidOf = (snapshot: string) => String(BigInt(snapshot.split(':')[0]) % 2n ** 32n);

/** What the first part of an incremental extract decided, for the last part to settle the plan. */
export interface IncrementalStart {
  /** Why everything is read (and the state rebuilt); an incremental read when absent. */
  reason?: string;
  dataset: string;
  stateId: string;
  signature: string;
  generation: number;
  previousAsOf?: string;
  /** The table's row count the state knows. */
  stateTableRows?: number;
}

/**
 * Extract, incremental (the first part): the state read, whether this run can be incremental (or `rebuild`, the reason
 * a first try found), the lake listed into this run's files table (new, changed, same or removed since the state),
 * and what to read: table rows since the state's snapshot and the new or changed files, or everything.
 */
async function decideIncremental(deps: CrmDeps, options: CrmFeaturesOptions, run: RunRef, asOf: string, rebuild?: string): Promise<{
  start: IncrementalStart; source: SourceRead; files: LakeObject[];
}> {
  const dataset = datasetOf(options);
  const stateId = sha(dataset).slice(0, 12);
  const state = await readState(deps.target, dataset);
  const reason = rebuild ?? await rebuildReason(deps, options, state, stateId, asOf);
  const location = lakeLocation(options, deps.bucket);
  const listed = await listLakeObjects(deps.s3, location.bucket, location.key);
  const { files } = incrementalStaging(run.runId);
  await stagingDdl(deps.target, `DROP TABLE IF EXISTS ${files}`);
  await deps.target.query(`CREATE TABLE ${files} (key text PRIMARY KEY, etag text, size bigint, status text NOT NULL,
    has_game_type boolean NOT NULL DEFAULT false, has_channel boolean NOT NULL DEFAULT false)`);
  await deps.target.query(`INSERT INTO ${files} (key, etag, size, status) SELECT key, etag, size, 'new' FROM jsonb_to_recordset($1::jsonb)
    AS f(key text, etag text, size bigint)`, [JSON.stringify(listed)]);
  const start: IncrementalStart = {
    ...(reason ? { reason } : {}), dataset, stateId, signature: signatureOf(options), generation: state?.generation ?? 0,
    ...(state ? { previousAsOf: state.as_of, stateTableRows: state.table_rows } : {}),
  };
  if (reason) return { start, source: {}, files: listed };
  const tables = stateTables(stateId);
  // Unchanged files keep what was known of them; changed and removed ones have their stored copies replaced. An ETag
  // compared without its quotes: a listing may give it bare where a read gives it quoted (rclone's S3).
  await deps.target.query(`UPDATE ${files} f SET status = CASE WHEN btrim(s.etag, '"') IS NOT DISTINCT FROM btrim(f.etag, '"')
      AND s.size IS NOT DISTINCT FROM f.size
      THEN 'same' ELSE 'changed' END, has_game_type = s.has_game_type, has_channel = s.has_channel FROM ${tables.files} s WHERE s.key = f.key`);
  await deps.target.query(`INSERT INTO ${files} (key, etag, size, status) SELECT key, etag, size, 'removed' FROM ${tables.files} s
    WHERE NOT EXISTS (SELECT 1 FROM ${files} f WHERE f.key = s.key)`);
  const { rows: toRead } = await deps.target.query<LakeObject>(`SELECT key, etag, size::float8 AS size FROM ${files}
    WHERE status IN ('new', 'changed') ORDER BY key`);
  return { start, source: { sinceXid: sinceXidOf(state!.source_snapshot) }, files: toRead };
}

/**
 * Extract, incremental (the last part), once the rows are read: a table that lost rows since the state makes the run
 * a rebuild (`{ rebuild }`: everything is read again); else the plan. `copies`: the lake files read, with the
 * version read (recorded in the state, so that a file replaced after the listing is read again next time).
 */
async function settleIncremental(deps: CrmDeps, options: CrmFeaturesOptions, run: RunRef, start: IncrementalStart, read: SourceRead,
  copies: SourceCopy[]): Promise<{ plan: IncrementalPlan } | { rebuild: string }> {
  const { raw } = stagingTables(run.runId);
  const { files } = incrementalStaging(run.runId);
  if (!start.reason) {
    const tables = stateTables(start.stateId);
    // A row deleted from the table (or given another id) is not in any snapshot's new rows: the count tells. Known
    // rows = the state's count + rows read now that the state has not seen (as a valid copy or a rejected row).
    const { rows: [known] } = await withTransaction(deps.target, (client) => probingByIndex(client, () => client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${raw} r
      WHERE r.source = $1
        AND NOT EXISTS (SELECT 1 FROM ${tables.copies} c WHERE c.transaction_id = (CASE WHEN pg_input_is_valid(r.transaction_id, 'uuid')
              THEN r.transaction_id::uuid END) AND c.source = $1 AND c.raw_id = r.transaction_id)
        AND NOT EXISTS (SELECT 1 FROM ${tables.rejects} j WHERE j.raw_id = r.transaction_id)`, [options.sourceTable])));
    const expected = start.stateTableRows! + known.n;
    if (read.tableRows !== expected) {
      return { rebuild: `${options.sourceTable} holds ${read.tableRows} rows where ${expected} were expected: rows were deleted or re-keyed since the last run` };
    }
  }
  const versions = copies.filter((c) => c.etag !== undefined);
  if (versions.length) {
    await deps.target.query(`UPDATE ${files} f SET etag = v.etag, size = v.size FROM jsonb_to_recordset($1::jsonb) AS v(source text, etag text, size bigint)
      WHERE f.key = v.source`, [JSON.stringify(versions)]);
  }
  // Which optional columns each file read gives (a column no source has makes its features NULL, as in a full run).
  await deps.target.query(`UPDATE ${files} f SET has_game_type = x.g, has_channel = x.c FROM (
      SELECT source, bool_or(nullif(btrim(game_type), '') IS NOT NULL) AS g, bool_or(nullif(btrim(channel), '') IS NOT NULL) AS c
      FROM ${raw} WHERE source <> $1 GROUP BY source) x WHERE f.key = x.source`, [options.sourceTable]);
  const { rows: [counts] } = await deps.target.query<{ read: number; removed: number }>(`SELECT count(*) FILTER (WHERE status IN ('new', 'changed'))::int AS read,
      count(*) FILTER (WHERE status = 'removed')::int AS removed FROM ${files}`);
  const { reason, stateId, dataset, signature, generation, previousAsOf } = start;
  return { plan: {
    kind: reason ? 'rebuild' : 'incremental', ...(reason ? { reason } : {}), stateId, dataset, signature, generation,
    ...(previousAsOf !== undefined ? { previousAsOf } : {}), snapshot: read.snapshot!, tableRows: read.tableRows!, filesRead: counts.read,
    filesRemoved: counts.removed,
  } };
}

/**
 * Extract, incremental, in one activity (crmExtract, the runs recorded before the extract was shared by workers):
 * the plan (incremental, or a rebuild and why) and the rows read into this run's raw table.
 */
export async function extractIncremental(deps: CrmDeps, options: CrmFeaturesOptions, run: RunRef, asOf: string): Promise<Extracted & { plan: IncrementalPlan }> {
  for (let rebuild: string | undefined; ;) {
    const { start, source, files } = await decideIncremental(deps, options, run, asOf, rebuild);
    const extracted = await extractTransactions(deps, options, run, { source, lakeFiles: files, mayBeEmpty: !start.reason });
    const settled = await settleIncremental(deps, options, run, start, source, []);
    if ('plan' in settled) return { ...extracted, plan: settled.plan };
    rebuild = settled.rebuild;
  }
}

/** The shared extract's first activity, incremental: the plan's start and the files to read. */
export async function startIncremental(deps: CrmDeps, options: CrmFeaturesOptions, run: RunRef, asOf: string, rebuild?: string): Promise<ExtractPlan> {
  const startedAt = Date.now();
  const { start, source, files } = await decideIncremental(deps, options, run, asOf, rebuild);
  return { ...await startExtract(deps, options, run, files), source, mayBeEmpty: !start.reason, incremental: start, startedAt };
}

/** The shared extract's last activity, incremental: the counts and the plan, or `{ rebuild }` (read everything again). */
export async function finishIncremental(deps: CrmDeps, options: CrmFeaturesOptions, run: RunRef, plan: ExtractPlan & { incremental: IncrementalStart },
  copies: SourceCopy[]): Promise<(Extracted & { plan: IncrementalPlan }) | { rebuild: string }> {
  const table = copies.find((c) => c.source === options.sourceTable)!;
  const settled = await settleIncremental(deps, options, run, plan.incremental, table, copies.filter((c) => c !== table));
  return 'plan' in settled ? { ...finishExtract(options, run, plan, copies), plan: settled.plan } : settled;
}

/**
 * Clean, incremental: the rows read are classified by the same SQL as a full run; then, for every transaction id they
 * touch (and every stored copy that asOf has now reached), the full set of its valid copies and the one that counts.
 * Rebuild: the full run's clean, keeping the classified rows to store every valid copy.
 */
export async function cleanIncremental(deps: CrmDeps, options: CrmFeaturesOptions, run: RunRef, asOf: string, plan: IncrementalPlan): Promise<Cleaned> {
  const started = Date.now();
  const { raw, clean } = stagingTables(run.runId);
  const t = incrementalStaging(run.runId);
  const state = stateTables(plan.stateId);
  const table = options.sourceTable;
  await stagingDdl(deps.target, `DROP TABLE IF EXISTS ${t.copies}, ${t.rejects}, ${t.touched}, ${t.affected}`);
  let cleaned: Omit<Cleaned, 'durationMs'>;
  if (plan.kind === 'rebuild') {
    cleaned = await cleanTransactions(deps, options, run, asOf, true);
    await deps.target.query(`CREATE TABLE ${t.copies} AS SELECT ${copyValues('$1')},
        reason IS NULL AS effective FROM ${t.classified} WHERE ${VALID_COPY}`, [table]);
    // The touched users' transactions are read from the user index alone (an index-only scan, a few pages per user,
    // where the table holds a user's transactions on as many pages as it has transactions): it covers what the per-user
    // pass reads, and the vacuum marks the pages all-visible so the scan need not visit them.
    await inParts((part) => deps.target.query(`CREATE INDEX ON ${t.copies} ${[
      '(transaction_id)', `(user_id) INCLUDE (transaction_id, ${PER_USER_COLUMNS.slice(1).join(', ')}) WHERE effective`,
      '(created_at) INCLUDE (user_id, amount, transaction_type, effective)'][part]}`));
    await deps.target.query(`VACUUM (ANALYZE) ${t.copies}`);
  } else {
    cleaned = await withTransaction(deps.target, async (client) => {
      await client.query(BIG_SORTS);
      await client.query(`DROP TABLE IF EXISTS ${clean}, ${t.classified}`);
      await client.query(`CREATE UNLOGGED TABLE ${t.classified} AS ${classifySql(raw)}`, [asOf]);
      const { rows: changed } = await client.query<{ key: string }>(`SELECT key FROM ${t.files} WHERE status IN ('changed', 'removed')`);
      const replacedFiles = changed.map((r) => r.key);
      // A stored copy is replaced when its file changed or went, or when its table row was read again.
      const replaced = `(c.source = ANY($3::text[]) OR (c.source = $2 AND EXISTS (SELECT 1 FROM ${raw} r WHERE r.source = $2 AND r.transaction_id = c.raw_id)))`;
      await probingByIndex(client, async () => {
        await client.query(`CREATE UNLOGGED TABLE ${t.touched} AS SELECT DISTINCT transaction_id FROM (
            SELECT c.transaction_id FROM ${raw} r JOIN ${state.copies} c ON c.transaction_id = (CASE WHEN pg_input_is_valid(r.transaction_id, 'uuid')
              THEN r.transaction_id::uuid END) AND c.source = $2 AND c.raw_id = r.transaction_id WHERE r.source = $2
            UNION ALL SELECT c.transaction_id FROM ${state.copies} c WHERE cardinality($3::text[]) > 0 AND c.source = ANY($3::text[])
            UNION ALL SELECT id FROM ${t.classified} WHERE reason IS NULL OR reason = 'future created_at'
            -- copies that were dated after the last asOf and are not any more
            UNION ALL SELECT transaction_id FROM ${state.copies} WHERE created_at > $4::timestamp AND created_at <= $1::timestamp) x`,
        [asOf, table, replacedFiles, plan.previousAsOf]);
        await client.query(`CREATE TABLE ${t.copies} AS SELECT ${COPY_COLUMNS.slice(0, -1).join(', ')}, delta_ref,
            row_number() OVER (PARTITION BY transaction_id ${winnerOrder('$1', '$2')}) = 1 AND created_at <= $1::timestamp AS effective
          FROM (SELECT ${COPY_COLUMNS.slice(0, -1).map((c) => `c.${c}`).join(', ')}, NULL::tid AS delta_ref FROM ${state.copies} c
                WHERE c.transaction_id IN (SELECT transaction_id FROM ${t.touched}) AND NOT ${replaced}
                UNION ALL
                SELECT ${copyValues('$2')}, ctid FROM ${t.classified} WHERE reason IS NULL OR reason = 'future created_at') x`,
        [asOf, table, replacedFiles]);
        // The users whose transactions changed: of every copy that counted before, and of every one that counts now.
        await client.query(`CREATE UNLOGGED TABLE ${t.affected} AS
          SELECT user_id FROM ${state.copies} WHERE effective AND transaction_id IN (SELECT transaction_id FROM ${t.touched})
          UNION SELECT user_id FROM ${t.copies} WHERE effective`);
      });
      // A copy read now that loses to another is a duplicate, as in a full run.
      await client.query(`UPDATE ${t.classified} SET reason = 'duplicate transaction_id'
        WHERE reason IS NULL AND ctid IN (SELECT delta_ref FROM ${t.copies} WHERE delta_ref IS NOT NULL AND NOT effective)`);
      await client.query(`ALTER TABLE ${t.copies} DROP COLUMN delta_ref`);
      return settleClean(client, { raw, clean, run, pipeline: 'crmFeatures', preferredSource: table, asOf, repeatedIds: [], keepClassified: true });
    });
  }
  // Table rows that are not valid copies: known, so that a later count tells a deleted row.
  await deps.target.query(`CREATE TABLE ${t.rejects} AS SELECT transaction_id AS raw_id FROM ${t.classified} WHERE source = $1 AND NOT ${VALID_COPY}`, [table]);
  await deps.target.query(`DROP TABLE ${t.classified}`);
  return { ...cleaned, durationMs: Date.now() - started };
}

/** The columns of a transaction the per-user pass reads. */
const PER_USER_COLUMNS = ['user_id', 'amount', 'transaction_type', 'created_at', 'game_type', 'channel'];

/** A classified row as a stored copy (`table`: the parameter holding the source table's name). */
const copyValues = (table: string) => `id AS transaction_id, CASE WHEN source = ${table} THEN transaction_id END AS raw_id, source,
  created_at AS created_at_text, ${CLEAN_VALUES.replace('id AS transaction_id, ', '').replace(/, source$/, '')}`;

/**
 * Features, incremental: the touched users recomputed from all their transactions (the full run's per-user SQL);
 * every other user's stored aggregates with their time windows moved from the last asOf to this one (what left each
 * window subtracted, what entered added, read from the stored transactions of those few days only); then the ranks
 * and the rest over every user (the full run's SQL).
 */
export async function computeIncremental(deps: CrmDeps, options: CrmFeaturesOptions, run: RunRef, asOf: string, plan: IncrementalPlan): Promise<Transformed & { usersRecomputed: number }> {
  const started = Date.now();
  const { features } = stagingTables(run.runId);
  const t = incrementalStaging(run.runId);
  const state = stateTables(plan.stateId);
  if (plan.kind === 'rebuild') {
    const computed = await computeFeatures(deps, options, run, asOf, true);
    await stagingDdl(deps.target, `DROP TABLE IF EXISTS ${t.aggregates}`);
    await deps.target.query(`CREATE TABLE ${t.aggregates} AS TABLE ${t.perUser}`);
    await deps.target.query(`DROP TABLE ${t.perUser}`);
    return { ...computed, usersRecomputed: computed.rows, durationMs: Date.now() - started };
  }
  const unavailable = await unavailableIncremental(deps, options.sourceTable, t.files);
  await stagingDdl(deps.target, `DROP TABLE IF EXISTS ${features}, ${t.perUser}, ${t.aggregates}, ${t.shift}`);
  const cols = PER_USER_COLUMNS.join(', ');
  // The touched users in parts (by a hash of their id), side by side, as the full run's per-user pass.
  const ofPart = (part: number) => `mod(hashtext(user_id)::bigint + 2147483648, ${PARTS}) = ${part}`;
  const transactions = (part: number) => `(SELECT ${cols} FROM ${state.copies} c
      WHERE c.effective AND c.user_id IN (SELECT user_id FROM ${t.affected} WHERE ${ofPart(part)})
      AND NOT EXISTS (SELECT 1 FROM ${t.touched} x WHERE x.transaction_id = c.transaction_id)
    UNION ALL SELECT ${cols} FROM ${t.copies} WHERE effective AND ${ofPart(part)})`;
  const { rows: columns } = await deps.target.query<{ name: string }>(`SELECT attname AS name FROM pg_attribute
    WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, [state.aggregates]);
  // Windows by calendar day (days active) and by timestamp (bet amounts of the last 30 days and of the 30 before).
  // Users not touched have no transaction after the last asOf $2, so nothing enters their last-30-days or days windows.
  const dayRange = (n: number) => `(created_at >= ($2::timestamp::date - ${n} + 1)::timestamp
    AND created_at < (least($1::timestamp::date - ${n}, $2::timestamp::date) + 1)::timestamp)`;
  const ts = (from: string, to: string) => `created_at > ${from} AND created_at <= ${to}`;
  const d30 = "interval '30 days'";
  const d60 = "interval '60 days'";
  const lastLeft = ts(`$2::timestamp - ${d30}`, `least($1::timestamp - ${d30}, $2::timestamp)`);
  const prevEntered = ts(`greatest($2::timestamp - ${d30}, $1::timestamp - ${d60})`, `$1::timestamp - ${d30}`);
  const prevLeft = ts(`$2::timestamp - ${d60}`, `least($2::timestamp - ${d30}, $1::timestamp - ${d60})`);
  // One index-only range scan per window edge (the created_at index covers these columns; a bitmap over all of them at
  // once would visit every page of the table, each day's transactions being spread over all of it). The days counted
  // are the days that left the window, dayRange(n) being exactly those days.
  const edges = [...[7, 30, 90].map((n) => `count(DISTINCT created_at::date) FROM ${state.copies} WHERE effective AND ${dayRange(n)}`),
    ...[lastLeft, prevEntered, prevLeft].map((range) => `sum(amount) FROM ${state.copies} WHERE effective AND transaction_type = 'bet' AND ${range}`)];
  const edge = (k: number) => `sum(v) FILTER (WHERE k = ${k})`;
  const moved: Record<string, string> = {
    days_7d: 'a.days_7d - coalesce(s.left7, 0)', days_30d: 'a.days_30d - coalesce(s.left30, 0)', days_90d: 'a.days_90d - coalesce(s.left90, 0)',
    bets_last_30d: 'a.bets_last_30d - coalesce(s.last_left, 0)', bets_prev_30d: 'a.bets_prev_30d + coalesce(s.prev_entered, 0) - coalesce(s.prev_left, 0)',
  };
  // The touched users' pass (in parts) and the others' window shift, side by side.
  await deps.target.query(`CREATE UNLOGGED TABLE ${t.perUser} AS ${perUserSql(transactions(0))} WITH NO DATA`, [asOf]);
  await Promise.all([
    inParts((part) => withTransaction(deps.target, async (client) => {
      await client.query(BIG_SORTS);
      await client.query(`INSERT INTO ${t.perUser} ${perUserSql(transactions(part))}`, [asOf]);
    })),
    withTransaction(deps.target, async (client) => {
      await client.query(BIG_SORTS);
      await client.query(`CREATE UNLOGGED TABLE ${t.shift} AS
        SELECT user_id, ${edge(0)}::bigint AS left7, ${edge(1)}::bigint AS left30, ${edge(2)}::bigint AS left90,
               ${edge(3)} AS last_left, ${edge(4)} AS prev_entered, ${edge(5)} AS prev_left
        FROM (${edges.map((e, k) => `SELECT user_id, ${k} AS k, ${e} GROUP BY user_id`).join(' UNION ALL ')}) AS w(user_id, k, v)
        GROUP BY user_id`, [asOf, plan.previousAsOf]);
    }),
  ]);
  await withTransaction(deps.target, async (client) => {
    await client.query(BIG_SORTS);
    await client.query(`CREATE TABLE ${t.aggregates} AS
      SELECT ${columns.map(({ name }) => (moved[name] ? `${moved[name]} AS ${name}` : `a.${name}`)).join(', ')}
      FROM ${state.aggregates} a LEFT JOIN ${t.shift} s USING (user_id)
      WHERE NOT EXISTS (SELECT 1 FROM ${t.affected} f WHERE f.user_id = a.user_id)
      UNION ALL SELECT ${columns.map(({ name }) => name).join(', ')} FROM ${t.perUser}`);
  });
  const rows = await scoreInParts(deps, options, asOf, t.aggregates, features, unavailable);
  const { rows: [recomputed] } = await deps.target.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t.perUser}`);
  await deps.target.query(`DROP TABLE ${t.perUser}, ${t.shift}`);
  return { step: 'features', table: features, rows, unavailable, usersRecomputed: recomputed.n, durationMs: Date.now() - started };
}

/** Optional columns no source has: not in the table, and in no current lake file (as a full run decides from its raw rows). */
export async function unavailableIncremental(deps: CrmDeps, sourceTable: string, files: string): Promise<UnavailableFeatures[]> {
  const columns = await sourceTableColumns(deps.source, sourceTable);
  const { rows: [given] } = await deps.target.query<{ game_type: boolean; channel: boolean }>(`SELECT coalesce(bool_or(has_game_type), false) AS game_type,
      coalesce(bool_or(has_channel), false) AS channel FROM ${files} WHERE status <> 'removed'`);
  return OPTIONAL_COLUMNS.filter((c) => !columns.has(c) && !given[c]).map((column) => ({ column, features: FEATURES_NEEDING[column] }));
}

/**
 * In the load's transaction: the state moves to this run's (rebuilt, or the touched copies, the aggregates and the
 * files replaced), unless another run moved it since this one read it (then nothing is loaded). A retry of a load that
 * committed finds its own run there and leaves it.
 */
export async function applyState(client: pg.PoolClient, run: RunRef, plan: IncrementalPlan, asOf: string): Promise<void> {
  const state = stateTables(plan.stateId);
  const t = incrementalStaging(run.runId);
  const { raw } = stagingTables(run.runId);
  await client.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [STATE_TABLE + plan.dataset]);
  const current = await readState(client, plan.dataset);
  if (current?.applied_by === run.runId && current.generation === plan.generation + 1) return;
  if ((current?.generation ?? 0) !== plan.generation) {
    throw ApplicationFailure.nonRetryable(`another crmFeatures run updated the incremental state of ${plan.dataset} (generation ${current?.generation}, `
      + `this run started from ${plan.generation}) while this one ran: nothing was loaded; run again`, ErrorType.InvalidInput);
  }
  const moveIn = async (from: string, to: string) => {
    await client.query(`DROP TABLE IF EXISTS ${to}`);
    await client.query(`ALTER TABLE ${from} SET SCHEMA ml_features`);
    await client.query(`ALTER TABLE ml_features.${from.split('.')[1]} RENAME TO ${to.split('.')[1]}`);
  };
  if (plan.kind === 'rebuild') {
    await moveIn(t.copies, state.copies);
    await moveIn(t.rejects, state.rejects);
    await client.query(`CREATE INDEX ON ${state.rejects} (raw_id)`);
  } else {
    await probingByIndex(client, () => client.query(`DELETE FROM ${state.copies} WHERE transaction_id IN (SELECT transaction_id FROM ${t.touched})`));
    await client.query(`INSERT INTO ${state.copies} (${COPY_COLUMNS.join(', ')}) SELECT ${COPY_COLUMNS.join(', ')} FROM ${t.copies}`);
    await client.query(`DELETE FROM ${state.rejects} WHERE raw_id IN (SELECT transaction_id FROM ${raw} WHERE source = split_part($1, '|', 1))`, [plan.dataset]);
    await client.query(`INSERT INTO ${state.rejects} (raw_id) SELECT raw_id FROM ${t.rejects}`);
  }
  await moveIn(t.aggregates, state.aggregates);
  await client.query(`DROP TABLE IF EXISTS ${state.files}`);
  await client.query(`CREATE TABLE ${state.files} AS SELECT key, etag, size, has_game_type, has_channel FROM ${t.files} WHERE status <> 'removed'`);
  await client.query(`INSERT INTO ${STATE_TABLE} (dataset, state_id, generation, as_of, source_snapshot, table_rows, signature, applied_by, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
    ON CONFLICT (dataset) DO UPDATE SET state_id = EXCLUDED.state_id, generation = EXCLUDED.generation, as_of = EXCLUDED.as_of,
      source_snapshot = EXCLUDED.source_snapshot, table_rows = EXCLUDED.table_rows, signature = EXCLUDED.signature,
      applied_by = EXCLUDED.applied_by, updated_at = now()`,
  [plan.dataset, plan.stateId, plan.generation + 1, asOf, plan.snapshot, plan.tableRows, plan.signature, run.runId]);
}

/** The run's extra work tables (dropped with the others when the run ends). */
export const incrementalStagingList = (runId: string): string[] => Object.values(incrementalStaging(runId));
