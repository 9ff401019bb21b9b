// Clean and features: set-based SQL in the target database, one statement per step, no row loop in Node.
import { type CrmFeaturesOptions, type RunRef, type StepMetric, stagingTables } from '../../lib/crm-features';
import { withTransaction } from '../../lib/db';
import type { CrmDeps } from './extract';

export const GAME_TYPES = ['crash', 'cassino', 'esportes', 'poker', 'slots'];
export const TRANSACTION_TYPES = ['deposit', 'withdrawal', 'bet', 'win'];
export const STATUSES = ['completed', 'pending', 'failed', 'cancelled'];

export interface Cleaned extends StepMetric {
  table: string;
  quarantined: number;
  reasons: Record<string, number>;
}

const list = (values: string[]) => values.map((v) => `'${v}'`).join(', ');

// Millions of rows are sorted (duplicate ids, per-user ranks); with Postgres's default 4 MB the sorts spill to disk.
const BIG_SORTS = "SET LOCAL work_mem = '256MB'";

/**
 * Types, impossible values, status and duplicates: each raw row gets the first reason that rejects it; rejected
 * rows go to etl_quarantine with that reason, the rest become the typed clean table. Safe to run twice.
 */
export async function cleanTransactions(deps: CrmDeps, options: CrmFeaturesOptions, run: RunRef, asOf: string): Promise<Cleaned> {
  const started = Date.now();
  const { raw, clean } = stagingTables(run.runId);
  // Unlogged, not temporary: a temporary table lives in the session's small local buffers and spills at this size.
  const classified = `${clean}_classified`;
  return withTransaction(deps.target, async (client) => {
    await client.query(BIG_SORTS);
    await client.query(`DROP TABLE IF EXISTS ${clean}, ${classified}`);
    await client.query(`CREATE UNLOGGED TABLE ${classified} AS
      WITH typed AS (
        SELECT r.*, CASE
          WHEN r.transaction_id IS NULL OR NOT pg_input_is_valid(r.transaction_id, 'uuid') THEN 'invalid transaction_id'
          WHEN r.user_id IS NULL OR btrim(r.user_id) = '' OR length(r.user_id) > 50 THEN 'missing or invalid user_id'
          WHEN r.amount IS NULL OR NOT pg_input_is_valid(r.amount, 'numeric(10,2)') OR lower(btrim(r.amount)) IN ('nan', 'infinity', '-infinity') THEN 'invalid amount'
          WHEN r.created_at IS NULL OR NOT pg_input_is_valid(r.created_at, 'timestamp') THEN 'invalid created_at'
          WHEN r.transaction_type IS NULL OR lower(r.transaction_type) NOT IN (${list(TRANSACTION_TYPES)}) THEN 'invalid transaction_type'
          WHEN r.status IS NULL OR lower(r.status) NOT IN (${list(STATUSES)}) THEN 'invalid status'
          WHEN lower(r.status) <> 'completed' THEN 'status ' || lower(r.status) || ' (only completed transactions count)'
          WHEN r.amount::numeric < 0 THEN 'negative amount'
          WHEN r.created_at::timestamp > $1::timestamp THEN 'future created_at'
        END AS reason
        FROM ${raw} r)
      SELECT t.*, CASE WHEN t.reason IS NULL AND row_number() OVER (
          PARTITION BY CASE WHEN t.reason IS NULL THEN t.transaction_id::uuid END
          ORDER BY (t.source = $2) DESC, t.source, t.created_at) > 1
        THEN 'duplicate transaction_id' ELSE t.reason END AS final_reason
      FROM typed t`, [asOf, options.sourceTable]);
    await client.query('DELETE FROM etl_quarantine WHERE workflow_id = $1 AND run_id = $2', [run.workflowId, run.runId]);
    const quarantined = await client.query(`INSERT INTO etl_quarantine (pipeline, workflow_id, run_id, source_table, row_data, reason)
      SELECT 'crmFeatures', $1, $2, source, to_jsonb(c) - 'reason' - 'final_reason' - 'source', final_reason
      FROM ${classified} c WHERE final_reason IS NOT NULL`, [run.workflowId, run.runId]);
    const created = await client.query(`CREATE UNLOGGED TABLE ${clean} AS
      SELECT transaction_id::uuid AS transaction_id, btrim(user_id)::varchar(50) AS user_id, amount::numeric(10,2) AS amount,
             lower(transaction_type) AS transaction_type, created_at::timestamp AS created_at,
             CASE WHEN lower(btrim(game_type)) IN (${list(GAME_TYPES)}) THEN lower(btrim(game_type)) END AS game_type,
             nullif(lower(btrim(channel)), '') AS channel, source
      FROM ${classified} WHERE final_reason IS NULL`);
    const { rows } = await client.query<{ reason: string; n: string }>(
      `SELECT final_reason AS reason, count(*) AS n FROM ${classified} WHERE final_reason IS NOT NULL GROUP BY 1 ORDER BY 1`);
    await client.query(`DROP TABLE ${classified}`);
    return {
      step: 'clean', table: clean, rows: Number(created.rowCount), quarantined: Number(quarantined.rowCount),
      reasons: Object.fromEntries(rows.map((r) => [r.reason, Number(r.n)])), durationMs: Date.now() - started,
    };
  });
}

export interface Transformed extends StepMetric {
  table: string;
}

export const FEATURE_COLUMNS = ['user_id', 'favorite_game_type', 'game_diversity_score', 'bet_volatility', 'ticket_medio', 'ticket_medio_categoria',
  'total_transactions', 'total_deposits', 'total_withdrawals', 'balance_ratio', 'dias_semana_preferidos', 'horarios_atividade',
  'weekend_activity_ratio', 'activity_regularity', 'frequencia_jogo', 'recency_days', 'recency_score', 'frequency_score', 'monetary_score',
  'rfm_segment', 'customer_lifetime_value_score', 'churn_risk_score', 'behavioral_diversity_score', 'canal_preferido', 'last_transaction_at'];

/** Per-user features from the clean transactions, in one statement (formulas in the README, "crmFeatures features"). */
export async function computeFeatures(deps: CrmDeps, options: CrmFeaturesOptions, run: RunRef, asOf: string): Promise<Transformed> {
  const started = Date.now();
  const { clean, features } = stagingTables(run.runId);
  const created = await withTransaction(deps.target, async (client) => {
    await client.query(BIG_SORTS);
    await client.query(`DROP TABLE IF EXISTS ${features}`);
    return client.query(featuresSql(clean, features), [asOf, options.ticketCutoffs.medio, options.ticketCutoffs.alto]);
  });
  return { step: 'features', table: features, rows: Number(created.rowCount), durationMs: Date.now() - started };
}

function featuresSql(clean: string, features: string): string {
  return `CREATE UNLOGGED TABLE ${features} AS
  WITH t AS (
    SELECT user_id, amount, transaction_type, created_at, game_type, channel,
           extract(isodow FROM created_at)::int AS dow, created_at::date AS day,
           CASE WHEN extract(hour FROM created_at) < 6 THEN 'madrugada' WHEN extract(hour FROM created_at) < 12 THEN 'manha'
                WHEN extract(hour FROM created_at) < 18 THEN 'tarde' ELSE 'noite' END AS periodo
    FROM ${clean}),
  base AS (
    SELECT user_id,
           count(*) AS total_transactions,
           count(*) FILTER (WHERE transaction_type = 'bet') AS bets,
           coalesce(avg(amount) FILTER (WHERE transaction_type = 'bet'), 0) AS ticket_medio,
           coalesce(stddev_pop(amount) FILTER (WHERE transaction_type = 'bet'), 0) AS bet_sd,
           count(DISTINCT game_type) FILTER (WHERE transaction_type = 'bet') AS games,
           coalesce(sum(amount) FILTER (WHERE transaction_type = 'deposit'), 0) AS total_deposits,
           coalesce(sum(amount) FILTER (WHERE transaction_type = 'withdrawal'), 0) AS total_withdrawals,
           count(*) FILTER (WHERE dow IN (6, 7))::numeric / count(*) AS weekend_ratio,
           count(DISTINCT day) AS active_days,
           min(created_at) AS first_at, max(created_at) AS last_at,
           count(DISTINCT transaction_type) AS types, count(DISTINCT periodo) AS periods, count(DISTINCT dow) AS dows
    FROM t GROUP BY user_id),
  fav_game AS (
    SELECT DISTINCT ON (user_id) user_id, game_type FROM t WHERE transaction_type = 'bet' AND game_type IS NOT NULL
    GROUP BY user_id, game_type ORDER BY user_id, count(*) DESC, game_type),
  fav_channel AS (
    SELECT DISTINCT ON (user_id) user_id, channel FROM t WHERE channel IS NOT NULL
    GROUP BY user_id, channel ORDER BY user_id, count(*) DESC, channel),
  fav_period AS (
    SELECT DISTINCT ON (user_id) user_id, periodo FROM t
    GROUP BY user_id, periodo ORDER BY user_id, count(*) DESC, array_position(ARRAY['madrugada', 'manha', 'tarde', 'noite'], periodo)),
  top_days AS (
    SELECT user_id, string_agg((ARRAY['segunda', 'terca', 'quarta', 'quinta', 'sexta', 'sabado', 'domingo'])[dow], ',' ORDER BY rn) AS dias
    FROM (SELECT user_id, dow, row_number() OVER (PARTITION BY user_id ORDER BY count(*) DESC, dow) AS rn FROM t GROUP BY user_id, dow) d
    WHERE rn <= 2 GROUP BY user_id),
  scored AS (
    SELECT b.*,
           floor(extract(epoch FROM ($1::timestamp - last_at)) / 86400)::int AS recency_days,
           b.active_days::numeric / ((last_at::date - first_at::date) + 1) AS regularity,
           ntile(4) OVER (ORDER BY last_at, user_id) AS r,
           ntile(4) OVER (ORDER BY total_transactions, user_id) AS f,
           ntile(4) OVER (ORDER BY total_deposits, user_id) AS m,
           percent_rank() OVER (ORDER BY total_deposits - total_withdrawals) AS clv
    FROM base b)
  SELECT s.user_id,
         g.game_type AS favorite_game_type,
         round(s.games / 5.0, 4) AS game_diversity_score,
         round(CASE WHEN s.bets >= 2 AND s.ticket_medio > 0 THEN s.bet_sd / s.ticket_medio ELSE 0 END, 4) AS bet_volatility,
         round(s.ticket_medio, 2) AS ticket_medio,
         CASE WHEN s.ticket_medio < $2 THEN 'baixo' WHEN s.ticket_medio < $3 THEN 'medio' ELSE 'alto' END AS ticket_medio_categoria,
         s.total_transactions::int AS total_transactions,
         s.total_deposits, s.total_withdrawals,
         round(s.total_deposits / greatest(s.total_withdrawals, 1), 4) AS balance_ratio,
         d.dias AS dias_semana_preferidos,
         p.periodo AS horarios_atividade,
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
         round((s.games / 5.0 + s.types / 4.0 + s.periods / 4.0 + s.dows / 7.0) / 4, 4) AS behavioral_diversity_score,
         c.channel AS canal_preferido,
         s.last_at AS last_transaction_at
  FROM scored s
  LEFT JOIN fav_game g USING (user_id)
  LEFT JOIN fav_channel c USING (user_id)
  LEFT JOIN fav_period p USING (user_id)
  LEFT JOIN top_days d USING (user_id)`;
}
