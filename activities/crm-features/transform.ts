// Clean and features: set-based SQL in the target database, one statement per step, no row loop in Node.
import { type CrmFeaturesOptions, type RunRef, type StepMetric, stagingTables } from '../../lib/contracts/crm-features';
import { stagingDdl, withTransaction } from '../../lib/io/postgres';
import type pg from 'pg';
import { type CrmDeps, OPTIONAL_COLUMNS, RAW_COLUMNS, sourceTableColumns } from './extract';
import { ambiguousNumberReasonSql, parsedNumberSql } from '../../lib/io/numbers';

export const GAME_TYPES = ['crash', 'cassino', 'esportes', 'poker', 'slots'];
/** The money movements a user makes, plus `bonus` (credit the house grants: it feeds bonus_usage_share and net_gaming_revenue). */
export const MONEY_TYPES = ['deposit', 'withdrawal', 'bet', 'win'];
export const TRANSACTION_TYPES = [...MONEY_TYPES, 'bonus'];
export const STATUSES = ['completed', 'pending', 'failed', 'cancelled'];

export interface Cleaned extends StepMetric {
  table: string;
  quarantined: number;
  reasons: Record<string, number>;
}

const list = (values: string[]) => values.map((v) => `'${v}'`).join(', ');

// Millions of rows are sorted (duplicate ids, per-user ranks); with Postgres's default 4 MB the sorts spill to disk.
export const BIG_SORTS = "SET LOCAL work_mem = '256MB'";

/**
 * Each raw row with its values parsed once and the first reason that rejects it ($1 = asOf). `where` narrows it to a
 * part of the raw table. The typed values (NULL where the text does not parse) are worked out in a subquery kept apart
 * by OFFSET 0: flattened, each use of a value (the reason's tests, the output) would parse the text again.
 */
export const classifySql = (raw: string, where = '') => `
    SELECT ${RAW_COLUMNS.map((c) => `r.${c}`).join(', ')}, r.source, r.number_locale, r.id, v.amt, r.at, r.ttype, CASE
        WHEN r.id IS NULL THEN 'invalid transaction_id'
        WHEN r.user_id IS NULL OR btrim(r.user_id) = '' OR length(r.user_id) > 50 THEN 'missing or invalid user_id'
        -- An ambiguous amount has no value: the ambiguity is looked for only then.
        WHEN r.value IS NULL AND etl_number_ambiguous(r.amount, r.number_locale) THEN ${ambiguousNumberReasonSql("'amount'", 'r.amount')}
        WHEN v.amt IS NULL THEN 'invalid amount'
        WHEN r.at IS NULL THEN 'invalid created_at'
        WHEN r.ttype IS NULL OR r.ttype NOT IN (${list(TRANSACTION_TYPES)}) THEN 'invalid transaction_type'
        WHEN r.st IS NULL OR r.st NOT IN (${list(STATUSES)}) THEN 'invalid status'
        WHEN r.st <> 'completed' THEN 'status ' || r.st || ' (only completed transactions count)'
        -- numeric(10,2) rounds -0.004 to 0.00: the number as written decides.
        WHEN r.value < 0 THEN 'negative amount'
        WHEN r.at > $1::timestamp THEN 'future created_at'
      END AS reason
    FROM (SELECT r.*,
            CASE WHEN public.etl_input_is_valid(r.transaction_id, 'uuid') THEN r.transaction_id::uuid END AS id,
            -- The amount in the locale its file is written in (one parser for every pipeline: sql/shared/004_parse_number.sql).
            ${parsedNumberSql('r.amount', 'r.number_locale')} AS value,
            CASE WHEN public.etl_input_is_valid(r.created_at, 'timestamp') THEN r.created_at::timestamp END AS at,
            lower(r.transaction_type) AS ttype, lower(r.status) AS st
          FROM ${raw} r ${where} OFFSET 0) r
    CROSS JOIN LATERAL (SELECT CASE WHEN abs(round(r.value, 2)) < 1e8 THEN round(r.value, 2)::numeric(10,2) END AS amt) v`;

/**
 * Types, impossible values, status and duplicates: each raw row gets the first reason that rejects it; rejected
 * rows go to etl_quarantine with that reason, the rest become the typed clean table. Safe to run twice.
 *
 * Fast at millions of rows: each text value is parsed once (a lateral of typed values that are NULL where the text
 * does not parse), the duplicate search is a hash aggregate over the valid ids, and only ids that really repeat are
 * ranked to decide which copy stays; the quarantine rows and the count per reason come from one INSERT ... RETURNING.
 */
export async function cleanTransactions(deps: CrmDeps, options: CrmFeaturesOptions, run: RunRef, asOf: string, keepClassified = false): Promise<Cleaned> {
  const started = Date.now();
  const { raw, clean } = stagingTables(run.runId);
  const classified = classifiedTable(clean);
  // Millions of rows: classifying them and finding repeated ids run in parts side by side, one connection each
  // (a single statement would use one core). The tables are recreated, so a retry starts over.
  await stagingDdl(deps.target, `DROP TABLE IF EXISTS ${clean}, ${classified}`);
  await deps.target.query(`CREATE UNLOGGED TABLE ${classified} AS ${classifySql(raw)} WITH NO DATA`, [asOf]);
  const { rows } = await deps.target.query<{ pages: string }>(`SELECT pg_relation_size('${raw}') / current_setting('block_size')::int AS pages`);
  const perPart = Math.ceil((Number(rows[0].pages) + 1) / PARTS);
  await inParts((part) => deps.target.query(`INSERT INTO ${classified} ${classifySql(raw, `WHERE r.ctid >= '(${part * perPart},0)'::tid${
    part < PARTS - 1 ? ` AND r.ctid < '(${(part + 1) * perPart},0)'::tid` : ''}`)}`, [asOf]));
  const repeated = await inParts((part) => withTransaction(deps.target, async (client) => {
    await client.query(BIG_SORTS);
    const found = await client.query<{ id: string }>(`SELECT id FROM ${classified} WHERE reason IS NULL
      AND mod(uuid_hash(id)::bigint + 2147483648, ${PARTS}) = ${part} GROUP BY id HAVING count(*) > 1`);
    return found.rows.map((r) => r.id);
  }));
  const cleaned = await withTransaction(deps.target, (client) => settleClean(client, {
    raw, clean, run, pipeline: 'crmFeatures', preferredSource: options.sourceTable, asOf, repeatedIds: repeated.flat(), keepClassified,
  }));
  return { ...cleaned, durationMs: Date.now() - started };
}

export const PARTS = 3;
export const inParts = <T>(work: (part: number) => Promise<T>): Promise<T[]> => Promise.all(Array.from({ length: PARTS }, (_, part) => work(part)));
// Unlogged, not temporary: a temporary table lives in the session's small local buffers and spills at this size.
export const classifiedTable = (clean: string) => `${clean}_classified`;

export interface CleanRequest {
  raw: string;
  clean: string;
  /** Quarantine rows are filed under this run. */
  run: RunRef;
  pipeline: string;
  /** Of two copies of a transaction id, the one from this source stays. */
  preferredSource: string;
  asOf: string;
  /** Transactions stored before (the stream's): a valid row whose id is there is a duplicate too, and the stored copy stays. */
  storedTransactions?: string;
  /** Keep the classified rows with their final reasons (the incremental mode's state is built from them). */
  keepClassified?: boolean;
}

/** The whole cleaning inside the caller's transaction (the stream cleans a batch in the transaction that applies it). */
export async function cleanInto(client: pg.PoolClient, request: CleanRequest): Promise<Omit<Cleaned, 'durationMs'>> {
  const classified = classifiedTable(request.clean);
  await client.query(BIG_SORTS);
  await client.query(`DROP TABLE IF EXISTS ${request.clean}, ${classified}`);
  await client.query(`CREATE UNLOGGED TABLE ${classified} AS ${classifySql(request.raw)}`, [request.asOf]);
  const { rows } = await client.query<{ id: string }>(`SELECT id FROM ${classified} WHERE reason IS NULL GROUP BY id HAVING count(*) > 1`);
  return settleClean(client, { ...request, repeatedIds: rows.map((r) => r.id) });
}

/** A classified row's typed values, as the clean table holds them. */
export const CLEAN_VALUES = `id AS transaction_id, btrim(user_id)::varchar(50) AS user_id, amt AS amount, ttype AS transaction_type, at AS created_at,
           CASE WHEN lower(btrim(game_type)) IN (${list(GAME_TYPES)}) THEN lower(btrim(game_type)) END AS game_type,
           nullif(lower(btrim(channel)), '') AS channel, source`;

/**
 * From the classified rows: the copies of repeated ids after the first become duplicates, rejected rows go to the
 * quarantine (counted per reason in the same statement), the rest make the typed clean table.
 */
export async function settleClean(
  client: pg.PoolClient, { clean, run, pipeline, preferredSource, storedTransactions, repeatedIds, keepClassified }: CleanRequest & { repeatedIds: string[] },
) {
  const classified = classifiedTable(clean);
  await client.query(BIG_SORTS);
  // The source table's copy wins over a lake copy, then the first source by name, then the earliest timestamp text.
  if (repeatedIds.length > 0) {
    await client.query(`UPDATE ${classified} c SET reason = 'duplicate transaction_id' FROM (
        SELECT ctid AS row_ref, row_number() OVER (PARTITION BY id ORDER BY (source = $1) DESC, source, created_at) AS copy
        FROM ${classified}
        WHERE reason IS NULL AND id = ANY($2::uuid[])) d
      WHERE c.ctid = d.row_ref AND d.copy > 1`, [preferredSource, repeatedIds]);
  }
  if (storedTransactions) {
    await client.query(`UPDATE ${classified} c SET reason = 'duplicate transaction_id' FROM ${storedTransactions} s
      WHERE c.reason IS NULL AND s.transaction_id = c.id`);
  }
  await client.query('DELETE FROM etl_quarantine WHERE workflow_id = $1 AND run_id = $2', [run.workflowId, run.runId]);
  const { rows } = await client.query<{ reason: string; n: string }>(`WITH quarantined AS (
      INSERT INTO etl_quarantine (pipeline, workflow_id, run_id, source_table, row_data, reason)
      SELECT $3, $1, $2, source, jsonb_build_object(${RAW_COLUMNS.map((c) => `'${c}', ${c}`).join(', ')}), reason
      FROM ${classified} WHERE reason IS NOT NULL
      RETURNING reason)
    SELECT reason, count(*) AS n FROM quarantined GROUP BY 1 ORDER BY 1`, [run.workflowId, run.runId, pipeline]);
  // Logged, unlike the step's own work tables: the next steps read it, and a Postgres crash empties unlogged tables.
  const created = await client.query(`CREATE TABLE ${clean} AS SELECT ${CLEAN_VALUES} FROM ${classified} WHERE reason IS NULL`);
  if (!keepClassified) await client.query(`DROP TABLE ${classified}`);
  const reasons = Object.fromEntries(rows.map((r) => [r.reason, Number(r.n)]));
  return {
    step: 'clean', table: clean, rows: Number(created.rowCount), quarantined: Object.values(reasons).reduce((a, b) => a + b, 0), reasons,
  };
}

export interface Transformed extends StepMetric {
  table: string;
  /** Optional columns no source had, and the features that came out NULL for every user without them. */
  unavailable?: UnavailableFeatures[];
  /** Incremental mode: users recomputed from their transactions. */
  usersRecomputed?: number;
}

export interface UnavailableFeatures {
  column: string;
  features: string[];
}

/** The features each optional column feeds. */
export const FEATURES_NEEDING: Record<(typeof OPTIONAL_COLUMNS)[number], string[]> = {
  game_type: ['favorite_game_type', 'game_diversity_score', 'game_type_entropy', 'behavioral_diversity_score'],
  channel: ['canal_preferido'],
};

/**
 * Optional columns this run had no data for: missing from the source table (the CRM team's own tbl_transactions has
 * neither game_type nor channel) and given by no lake row.
 */
export async function unavailableColumns(deps: CrmDeps, sourceTable: string, raw: string): Promise<UnavailableFeatures[]> {
  const columns = await sourceTableColumns(deps.source, sourceTable);
  const unavailable: UnavailableFeatures[] = [];
  for (const column of OPTIONAL_COLUMNS.filter((c) => !columns.has(c))) {
    const { rows } = await deps.target.query(`SELECT 1 FROM ${raw} WHERE nullif(btrim(${column}), '') IS NOT NULL LIMIT 1`);
    if (!rows.length) unavailable.push({ column, features: FEATURES_NEEDING[column] });
  }
  return unavailable;
}

/**
 * The columns of ml_features.user_features the pipeline writes, by the document's groups (formulas:
 * docs/pipelines/crm-features.md): behaviour and financial are its "Comportamentais" ("Jogo e Apostas",
 * "Transacionais"), temporal its "Temporais", rfm and scores its "Segmentação" ("RFM Analysis", "ML Scores").
 */
export const FEATURE_GROUPS = {
  behaviour: ['favorite_game_type', 'game_diversity_score', 'bet_volatility', 'frequencia_jogo', 'canal_preferido', 'bet_count', 'win_rate',
    'game_type_entropy'],
  financial: ['ticket_medio', 'ticket_medio_categoria', 'total_transactions', 'total_deposits', 'total_withdrawals', 'balance_ratio',
    'total_bet_amount', 'total_win_amount', 'net_gaming_revenue', 'bet_amount_p50', 'bet_amount_p90', 'bonus_usage_share'],
  temporal: ['dias_semana_preferidos', 'horarios_atividade', 'weekend_activity_ratio', 'activity_regularity', 'last_transaction_at', 'tenure_days',
    'days_active_7d', 'days_active_30d', 'days_active_90d', 'spend_trend_30d', 'night_activity_share', 'session_count', 'avg_session_minutes',
    'avg_hours_between_transactions', 'stddev_hours_between_transactions'],
  rfm: ['recency_days', 'recency_score', 'frequency_score', 'monetary_score', 'rfm_segment', 'rfm_score'],
  scores: ['customer_lifetime_value_score', 'churn_risk_score', 'behavioral_diversity_score', 'churn_label'],
} as const;

// Column order: the table's (the first 25 from 001_ml_features.sql, then 003_more_features.sql's).
export const FEATURE_COLUMNS = ['user_id', 'favorite_game_type', 'game_diversity_score', 'bet_volatility', 'ticket_medio', 'ticket_medio_categoria',
  'total_transactions', 'total_deposits', 'total_withdrawals', 'balance_ratio', 'dias_semana_preferidos', 'horarios_atividade',
  'weekend_activity_ratio', 'activity_regularity', 'frequencia_jogo', 'recency_days', 'recency_score', 'frequency_score', 'monetary_score',
  'rfm_segment', 'customer_lifetime_value_score', 'churn_risk_score', 'behavioral_diversity_score', 'canal_preferido', 'last_transaction_at',
  'bet_count', 'win_rate', 'game_type_entropy', 'total_bet_amount', 'total_win_amount', 'net_gaming_revenue', 'bet_amount_p50', 'bet_amount_p90',
  'bonus_usage_share', 'tenure_days', 'days_active_7d', 'days_active_30d', 'days_active_90d', 'spend_trend_30d', 'night_activity_share',
  'session_count', 'avg_session_minutes', 'avg_hours_between_transactions', 'stddev_hours_between_transactions', 'rfm_score', 'churn_label'];

/** A gap of more than this between two transactions of a user starts a new session. */
export const SESSION_GAP_MINUTES = 30;
/** churn_label: no transaction in this many days before asOf. */
export const CHURN_LABEL_DAYS = 30;

/** Per-user features from the clean transactions, set-based (formulas in docs/pipelines/crm-features.md, "Features"). */
export async function computeFeatures(deps: CrmDeps, options: CrmFeaturesOptions, run: RunRef, asOf: string, keepPerUser = false): Promise<Transformed> {
  const started = Date.now();
  const { raw, clean, features } = stagingTables(run.runId);
  const perUser = `${features}_per_user`;
  const unavailable = await unavailableColumns(deps, options.sourceTable, raw);
  // The per-user pass over millions of rows runs in parts (users split by a hash of their id), side by side; the
  // ranks over the whole population then take one statement over one row per user.
  await stagingDdl(deps.target, `DROP TABLE IF EXISTS ${features}, ${perUser}`);
  await deps.target.query(`CREATE UNLOGGED TABLE ${perUser} AS ${perUserSql(clean)} WITH NO DATA`, [asOf]);
  await inParts((part) => withTransaction(deps.target, async (client) => {
    await client.query(BIG_SORTS);
    await client.query(`INSERT INTO ${perUser} ${perUserSql(clean, `WHERE mod(hashtext(user_id)::bigint + 2147483648, ${PARTS}) = ${part}`)}`, [asOf]);
  }));
  const rows = await scoreInParts(deps, options, asOf, perUser, features, unavailable);
  if (!keepPerUser) await deps.target.query(`DROP TABLE ${perUser}`);
  return { step: 'features', table: features, rows, unavailable, durationMs: Date.now() - started };
}

/**
 * The features table from one row per user: the ranks over everyone first (one narrow table), then the features in
 * parts side by side (their numeric arithmetic, a few microseconds per value, is most of the time). Returns the rows.
 */
export async function scoreInParts(deps: CrmDeps, options: CrmFeaturesOptions, asOf: string, perUser: string, features: string,
  unavailable: UnavailableFeatures[]): Promise<number> {
  const ranks = `${features}_ranks`;
  const params = [asOf, options.ticketCutoffs.medio, options.ticketCutoffs.alto];
  const missing = unavailable.flatMap((u) => u.features);
  await stagingDdl(deps.target, `DROP TABLE IF EXISTS ${features}, ${ranks}`);
  await withTransaction(deps.target, async (client) => {
    await client.query(BIG_SORTS);
    await client.query(`CREATE UNLOGGED TABLE ${ranks} AS ${rankedSql(perUser)}`);
    await client.query(`CREATE TABLE ${features} AS ${scoredSql(perUser, undefined, missing, { ranks, where: 'false' })} WITH NO DATA`, params);
  });
  const created = await inParts((part) => deps.target.query(`INSERT INTO ${features} ${scoredSql(perUser, undefined, missing, {
    ranks, where: `mod(hashtext(c.user_id)::bigint + 2147483648, ${PARTS}) = ${part}` })}`, params));
  await deps.target.query(`DROP TABLE ${ranks}`);
  return created.reduce((n, r) => n + Number(r.rowCount), 0);
}

const PERIODS = ['madrugada', 'manha', 'tarde', 'noite'];
const WEEKDAYS = ['segunda', 'terca', 'quarta', 'quinta', 'sexta', 'sabado', 'domingo'];
const SORTED_GAMES = [...GAME_TYPES].sort();
const textArray = (values: string[]) => `ARRAY[${list(values)}]`;
const columnsNamed = (name: string, n: number) => Array.from({ length: n }, (_, i) => `${name}${i + 1}`);
const countsArray = (name: string, n: number) => `ARRAY[${columnsNamed(name, n).join(', ')}]`;
const sumOf = (name: string, n: number) => columnsNamed(name, n).join(' + ');

/** The stream recomputes some users only: their quartiles and CLV rank are then placed among every loaded user. */
export interface FeatureScope {
  /** A table with the loaded features of every user (user_id, last_transaction_at, total_transactions, total_deposits, total_withdrawals). */
  population: string;
}

/**
 * One row per user from their transactions (`source`: a table or a parenthesised query; `where` narrows it to some
 * users; $1 = asOf). Every count the features need is a FILTERed count over a known list (weekday, period of the day,
 * transaction type, game of the bets), so one hash aggregate does them all with no DISTINCT; favourites and the
 * distinct counts are read from those counts. The gap to the user's previous transaction (sessions, inter-transaction
 * times) is one window over the rows; active days and channels (open-ended) need one more pass, bet percentiles another.
 */
export function perUserSql(source: string, where = ''): string {
  const dowCounts = WEEKDAYS.map((_, i) => `count(*) FILTER (WHERE dow = ${i + 1}) AS dow${i + 1}`).join(', ');
  const periodCounts = PERIODS.map((_, i) => `count(*) FILTER (WHERE periodo = ${i + 1}) AS period${i + 1}`).join(', ');
  const typeCounts = MONEY_TYPES.map((tt, i) => `count(*) FILTER (WHERE transaction_type = '${tt}') AS type${i + 1}`).join(', ');
  const gameCounts = SORTED_GAMES.map((g, i) => `count(*) FILTER (WHERE transaction_type = 'bet' AND game_type = '${g}') AS game${i + 1}`).join(', ');
  const present = (name: string, n: number) => Array.from({ length: n }, (_, i) => `(${name}${i + 1} > 0)::int`).join(' + ');
  const amountOf = (type: string, when = 'true') => `coalesce(sum(amount) FILTER (WHERE transaction_type = '${type}' AND ${when}), 0)`;
  const withinDays = (days: number) => `day > $1::timestamp::date - ${days}`;
  return `
  WITH t AS MATERIALIZED (
    -- Weekday, period of the day and the gap to the previous transaction worked out once per row.
    SELECT user_id, amount, transaction_type, created_at, game_type, channel, created_at::date AS day,
           date_part('isodow', created_at)::int AS dow, CASE WHEN h < 6 THEN 1 WHEN h < 12 THEN 2 WHEN h < 18 THEN 3 ELSE 4 END AS periodo,
           extract(epoch FROM created_at - lag(created_at) OVER (PARTITION BY user_id ORDER BY created_at)) AS gap_s
    -- src: a subquery in FROM needs an alias before Postgres 16.
    FROM (SELECT *, date_part('hour', created_at) AS h FROM ${source} AS src ${where}) c),
  base AS (
    SELECT user_id,
           count(*) AS total_transactions,
           count(*) FILTER (WHERE transaction_type = 'bet') AS bets,
           coalesce(avg(amount) FILTER (WHERE transaction_type = 'bet'), 0) AS ticket_medio,
           coalesce(stddev_pop(amount) FILTER (WHERE transaction_type = 'bet'), 0) AS bet_sd,
           ${amountOf('deposit')} AS total_deposits,
           ${amountOf('withdrawal')} AS total_withdrawals,
           ${amountOf('bet')} AS total_bets,
           ${amountOf('win')} AS total_wins,
           ${amountOf('bonus')} AS total_bonus,
           ${amountOf('bet', "created_at > $1::timestamp - interval '30 days'")} AS bets_last_30d,
           ${amountOf('bet', "created_at <= $1::timestamp - interval '30 days' AND created_at > $1::timestamp - interval '60 days'")} AS bets_prev_30d,
           count(*) FILTER (WHERE gap_s IS NULL OR gap_s > ${SESSION_GAP_MINUTES * 60}) AS sessions,
           coalesce(sum(gap_s) FILTER (WHERE gap_s <= ${SESSION_GAP_MINUTES * 60}), 0) AS session_s,
           avg(gap_s) AS gap_avg_s, stddev_pop(gap_s) AS gap_sd_s,
           min(created_at) AS first_at, max(created_at) AS last_at,
           ${dowCounts}, ${periodCounts}, ${typeCounts}, ${gameCounts}
    FROM t
    GROUP BY user_id),
  -- Active days and channels are open-ended: both counted in one more pass.
  per_day_and_channel AS (
    SELECT user_id, day, channel, count(*) AS n FROM t GROUP BY GROUPING SETS ((user_id, day), (user_id, channel))),
  active_days AS (
    SELECT user_id, count(*) AS active_days, count(*) FILTER (WHERE ${withinDays(7)}) AS days_7d,
           count(*) FILTER (WHERE ${withinDays(30)}) AS days_30d, count(*) FILTER (WHERE ${withinDays(90)}) AS days_90d
    FROM per_day_and_channel WHERE day IS NOT NULL GROUP BY user_id),
  fav_channel AS (
    SELECT DISTINCT ON (user_id) user_id, channel FROM per_day_and_channel WHERE day IS NULL AND channel IS NOT NULL
    ORDER BY user_id, n DESC, channel),
  -- Percentiles sort each user's bets: only the bets, in a pass of their own.
  bet_percentiles AS (
    SELECT user_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) AS bet_p50, percentile_cont(0.9) WITHIN GROUP (ORDER BY amount) AS bet_p90
    FROM t WHERE transaction_type = 'bet' GROUP BY user_id),
  counted AS (
    SELECT b.*, a.active_days, a.days_7d, a.days_30d, a.days_90d, ch.channel, bp.bet_p50, bp.bet_p90,
           ${present('game', SORTED_GAMES.length)} AS games,
           ${present('type', MONEY_TYPES.length)} AS types,
           ${present('period', PERIODS.length)} AS periods,
           ${present('dow', WEEKDAYS.length)} AS dows,
           (dow6 + dow7)::numeric / total_transactions AS weekend_ratio,
           -- Shannon entropy (bits) of the bets' game types; NULL without a bet of a known game.
           (SELECT -sum((n::numeric / g.total) * ln(n::numeric / g.total)) / ln(2::numeric)
              FROM unnest(${countsArray('game', SORTED_GAMES.length)}) AS n, (SELECT ${sumOf('game', SORTED_GAMES.length)} AS total) g
              WHERE n > 0) AS game_entropy,
           -- Most first; ties: alphabetical game, earlier period of the day, Monday first.
           (SELECT g FROM unnest(${textArray(SORTED_GAMES)}, ${countsArray('game', SORTED_GAMES.length)}) AS x(g, n)
             WHERE n > 0 ORDER BY n DESC, g LIMIT 1) AS favorite_game,
           (SELECT p FROM unnest(${textArray(PERIODS)}, ${countsArray('period', PERIODS.length)}) WITH ORDINALITY AS x(p, n, i)
             WHERE n > 0 ORDER BY n DESC, i LIMIT 1) AS periodo,
           (SELECT string_agg(d, ',' ORDER BY n DESC, i) FROM (
              SELECT d, n, i FROM unnest(${textArray(WEEKDAYS)}, ${countsArray('dow', WEEKDAYS.length)}) WITH ORDINALITY AS x(d, n, i)
              WHERE n > 0 ORDER BY n DESC, i LIMIT 2) top) AS dias
    FROM base b JOIN active_days a USING (user_id) LEFT JOIN fav_channel ch USING (user_id) LEFT JOIN bet_percentiles bp USING (user_id))
  SELECT * FROM counted`;
}

/** Quartiles and the CLV rank are relative to a population: this run's users, or (stream) every loaded user. */
export const rankedSql = (perUser: string, scope?: FeatureScope) => `
    SELECT user_id,
           ntile(4) OVER (ORDER BY last_at, user_id) AS r,
           ntile(4) OVER (ORDER BY total_transactions, user_id) AS f,
           ntile(4) OVER (ORDER BY total_deposits, user_id) AS m,
           percent_rank() OVER (ORDER BY total_deposits - total_withdrawals) AS clv
    FROM (SELECT user_id, last_at, total_transactions, total_deposits, total_withdrawals FROM ${perUser}${scope ? `
          UNION ALL
          SELECT user_id, last_transaction_at, total_transactions, total_deposits, total_withdrawals FROM ${scope.population} p
          WHERE NOT EXISTS (SELECT 1 FROM ${perUser} c WHERE c.user_id = p.user_id)` : ''}) population`;

/** Part of the users' features: the ranks already taken over everyone (`ranks`, from rankedSql), the users `where` picks. */
export interface ScoredPart {
  ranks: string;
  where: string;
}

/**
 * The features from the per-user rows: ranks, ratios, categories ($1 = asOf, $2/$3 = ticket cut-offs). The features
 * named in `unavailable` come out NULL (their column was in no source).
 */
export function scoredSql(perUser: string, scope?: FeatureScope, unavailable: string[] = [], part?: ScoredPart): string {
  const unless = (feature: string, sql: string) => (unavailable.includes(feature) ? `NULL::${feature === 'favorite_game_type' || feature === 'canal_preferido' ? 'text' : 'numeric'}` : sql);
  return `
  WITH ranked AS (${part ? `TABLE ${part.ranks}` : rankedSql(perUser, scope)}),
  scored AS (
    SELECT c.*, k.r, k.f, k.m, k.clv,
           floor(extract(epoch FROM ($1::timestamp - last_at)) / 86400)::int AS recency_days,
           c.active_days::numeric / ((last_at::date - first_at::date) + 1) AS regularity
    FROM ${perUser} c JOIN ranked k USING (user_id)${part ? ` WHERE ${part.where}` : ''})
  SELECT s.user_id,
         ${unless('favorite_game_type', 's.favorite_game')} AS favorite_game_type,
         ${unless('game_diversity_score', 'round(s.games / 5.0, 4)')} AS game_diversity_score,
         round(CASE WHEN s.bets >= 2 AND s.ticket_medio > 0 THEN s.bet_sd / s.ticket_medio ELSE 0 END, 4) AS bet_volatility,
         round(s.ticket_medio, 2) AS ticket_medio,
         CASE WHEN s.ticket_medio < $2 THEN 'baixo' WHEN s.ticket_medio < $3 THEN 'medio' ELSE 'alto' END AS ticket_medio_categoria,
         s.total_transactions::int AS total_transactions,
         s.total_deposits, s.total_withdrawals,
         round(s.total_deposits / greatest(s.total_withdrawals, 1), 4) AS balance_ratio,
         s.dias AS dias_semana_preferidos,
         s.periodo AS horarios_atividade,
         round(s.weekend_ratio, 4) AS weekend_activity_ratio,
         round(s.regularity, 4) AS activity_regularity,
         round(s.bets::numeric / s.active_days, 4) AS frequencia_jogo,
         s.recency_days,
         s.r::smallint AS recency_score, s.f::smallint AS frequency_score, s.m::smallint AS monetary_score,
         CASE WHEN s.r >= 3 AND s.f >= 3 AND s.m >= 3 THEN 'champions'
              WHEN s.r <= 2 AND (s.f >= 3 OR s.m >= 3) THEN 'at_risk'
              WHEN s.f >= 3 THEN 'loyal'
              WHEN s.r >= 3 THEN 'promising'
              ELSE 'hibernating' END AS rfm_segment,
         round(s.clv::numeric, 4) AS customer_lifetime_value_score,
         round(0.7 * least(1, greatest(s.recency_days, 0) / 60.0) + 0.3 * (1 - s.regularity), 4) AS churn_risk_score,
         ${unless('behavioral_diversity_score', 'round((s.games / 5.0 + s.types / 4.0 + s.periods / 4.0 + s.dows / 7.0) / 4, 4)')} AS behavioral_diversity_score,
         ${unless('canal_preferido', 's.channel')} AS canal_preferido,
         s.last_at AS last_transaction_at,
         s.bets::int AS bet_count,
         round(CASE WHEN s.bets > 0 THEN s.type4::numeric / s.bets END, 4) AS win_rate,
         ${unless('game_type_entropy', 'round(s.game_entropy, 4)')} AS game_type_entropy,
         s.total_bets AS total_bet_amount, s.total_wins AS total_win_amount,
         s.total_bets - s.total_wins - s.total_bonus AS net_gaming_revenue,
         round(s.bet_p50::numeric, 2) AS bet_amount_p50, round(s.bet_p90::numeric, 2) AS bet_amount_p90,
         round(CASE WHEN s.total_deposits + s.total_bonus > 0 THEN s.total_bonus / (s.total_deposits + s.total_bonus) ELSE 0 END, 4) AS bonus_usage_share,
         floor(extract(epoch FROM ($1::timestamp - first_at)) / 86400)::int AS tenure_days,
         s.days_7d::smallint AS days_active_7d, s.days_30d::smallint AS days_active_30d, s.days_90d::smallint AS days_active_90d,
         round(CASE WHEN s.bets_last_30d + s.bets_prev_30d > 0
           THEN (s.bets_last_30d - s.bets_prev_30d) / (s.bets_last_30d + s.bets_prev_30d) ELSE 0 END, 4) AS spend_trend_30d,
         round(s.period1::numeric / s.total_transactions, 4) AS night_activity_share,
         s.sessions::int AS session_count,
         round(s.session_s / 60 / s.sessions, 2) AS avg_session_minutes,
         round(s.gap_avg_s / 3600, 4) AS avg_hours_between_transactions,
         round(s.gap_sd_s / 3600, 4) AS stddev_hours_between_transactions,
         (s.r + s.f + s.m)::smallint AS rfm_score,
         (s.recency_days >= ${CHURN_LABEL_DAYS})::int::smallint AS churn_label
  FROM scored s`;
}
