// The quality gate: 11 checks, each a small SQL query whose value is compared with a threshold. Raw data (the
// staging and clean tables) and the features are both checked. Each check has a severity (the document's critical,
// high, medium, low; overridable per run): critical failures block the load, high ones too unless allowHigh.
// Score = weighted share of passed checks (4, 3, 2, 1); grade A >= 0.9, B >= 0.8, C >= 0.7, D >= 0.6, else F.
// Every report is stored.
import type pg from 'pg';
import {
  CHECK_SEVERITIES, type CheckName, type CrmFeaturesOptions, type IncrementalPlan, type QualityCheck, type QualityReport, type RunRef, type Severity, gradeFor, stagingTables,
} from '../../lib/contracts/crm-features';
import type { CrmDeps } from './extract';
import { unavailableColumns } from './transform';
import { incrementalStaging, unavailableIncremental } from './incremental';
import { AMBIGUOUS_NUMBER_REASON } from '../../lib/io/numbers';

const num = async (client: pg.Pool | pg.PoolClient, sql: string, params: unknown[] = []): Promise<number | null> => {
  const { rows } = await client.query<{ v: string | null }>(sql, params);
  return rows[0]?.v === null || rows[0]?.v === undefined ? null : Number(rows[0].v);
};

const TYPE_REASONS = ['invalid transaction_id', 'invalid amount', 'invalid created_at', 'invalid transaction_type', 'missing or invalid user_id'];
const RULE_REASONS = ['negative amount', 'future created_at', 'invalid status'];

export interface FeatureStats {
  avgTicketMedio: number | null;
  avgTotalTransactions: number | null;
  avgChurnRisk: number | null;
}

export async function runQualityChecks(
  deps: CrmDeps, options: CrmFeaturesOptions, run: RunRef, asOf: string, plan?: IncrementalPlan,
): Promise<QualityReport & { stats: FeatureStats }> {
  const { raw, clean, features } = stagingTables(run.runId);
  const th = options.thresholds;
  const db = deps.target;
  const q = (sql: string, params: unknown[] = []) => num(db, sql, params);
  // Features whose column no source had are NULL for everyone and reported in the result: readiness is over the others.
  const unavailable = (plan ? await unavailableIncremental(deps, options.sourceTable, incrementalStaging(run.runId).files)
    : await unavailableColumns(deps, options.sourceTable, raw)).flatMap((u) => u.features);
  const modelFeatures = ['game_diversity_score', 'bet_volatility', 'ticket_medio_categoria', 'balance_ratio', 'dias_semana_preferidos', 'horarios_atividade',
    'rfm_segment', 'churn_risk_score', 'customer_lifetime_value_score', 'favorite_game_type'].filter((f) => !unavailable.includes(f));
  // An ambiguous amount (its reason names the value) is a value of the wrong type too.
  const reasons = `SELECT count(*) AS v FROM etl_quarantine WHERE workflow_id = $1 AND run_id = $2
    AND (reason = ANY($3) OR ($4 AND starts_with(reason, '${AMBIGUOUS_NUMBER_REASON}')))`;
  // The checks' queries are independent, so they run side by side on the pool: one scan of the raw table for its three
  // counts, the outliers against per-type mean and deviation joined back (no window sort of every row), and one scan
  // of the features (one row per user, every user, incremental or not) for everything the feature checks read.
  // Freshness: the newest transaction, read from each user's last (one row per user, not every clean row).
  const [rawCounts, dupRows, outliers, badTypes, badRules, featureScan] = await Promise.all([
    db.query<{ n: string; complete: string | null; null_keys: string }>(`SELECT count(*) AS n,
        count(*) FILTER (WHERE nullif(transaction_id, '') IS NOT NULL AND nullif(user_id, '') IS NOT NULL
          AND nullif(amount, '') IS NOT NULL AND nullif(transaction_type, '') IS NOT NULL AND nullif(status, '') IS NOT NULL
          AND nullif(created_at, '') IS NOT NULL)::numeric / greatest(count(*), 1) AS complete,
        count(*) FILTER (WHERE nullif(btrim(transaction_id), '') IS NULL OR nullif(btrim(user_id), '') IS NULL) AS null_keys
      FROM ${raw}`),
    q(`SELECT count(*) AS v FROM etl_quarantine WHERE workflow_id = $1 AND run_id = $2 AND reason = 'duplicate transaction_id'`,
      [run.workflowId, run.runId]),
    q(`SELECT coalesce(avg((abs(c.amount - s.m) > 3 * s.sd)::int), 0) AS v FROM ${clean} c JOIN (
        SELECT transaction_type, avg(amount) AS m, coalesce(stddev_pop(amount), 0) AS sd FROM ${clean} GROUP BY transaction_type) s
      USING (transaction_type)`),
    q(reasons, [run.workflowId, run.runId, TYPE_REASONS, true]),
    q(reasons, [run.workflowId, run.runId, RULE_REASONS, false]),
    db.query<{ users: string; hours: string | null; out_of_range: string; t: string | null; n: string | null; c: string | null; corr: string | null;
      ready: string | null }>(`SELECT count(*) AS users,
        extract(epoch FROM ($1::timestamp - max(last_transaction_at))) / 3600 AS hours,
        count(*) FILTER (WHERE NOT (
          game_diversity_score BETWEEN 0 AND 1 AND weekend_activity_ratio BETWEEN 0 AND 1 AND activity_regularity BETWEEN 0 AND 1
          AND customer_lifetime_value_score BETWEEN 0 AND 1 AND churn_risk_score BETWEEN 0 AND 1 AND behavioral_diversity_score BETWEEN 0 AND 1
          AND recency_score BETWEEN 1 AND 4 AND frequency_score BETWEEN 1 AND 4 AND monetary_score BETWEEN 1 AND 4
          AND total_transactions > 0 AND bet_volatility >= 0 AND balance_ratio >= 0 AND ticket_medio >= 0 AND recency_days >= 0
          AND coalesce(win_rate, 0) >= 0 AND coalesce(game_type_entropy, 0) BETWEEN 0 AND 2.3220 AND bonus_usage_share BETWEEN 0 AND 1
          AND night_activity_share BETWEEN 0 AND 1 AND spend_trend_30d BETWEEN -1 AND 1 AND days_active_7d BETWEEN 0 AND 7
          AND days_active_30d BETWEEN days_active_7d AND 30 AND days_active_90d BETWEEN days_active_30d AND 90 AND tenure_days >= recency_days
          AND session_count BETWEEN 1 AND total_transactions AND rfm_score BETWEEN 3 AND 12 AND churn_label IN (0, 1))) AS out_of_range,
        avg(ticket_medio) AS t, avg(total_transactions) AS n, avg(churn_risk_score) AS c,
        greatest(abs(corr(bet_volatility, ticket_medio)), abs(corr(weekend_activity_ratio, activity_regularity)),
          abs(corr(churn_risk_score, customer_lifetime_value_score)), abs(corr(game_diversity_score, behavioral_diversity_score)),
          abs(corr(balance_ratio, ticket_medio)), abs(corr(frequencia_jogo, total_transactions))) AS corr,
        count(*) FILTER (WHERE ${modelFeatures.map((f) => `${f} IS NOT NULL`).join(' AND ')})::numeric / greatest(count(*), 1) AS ready
      FROM ${features}`, [asOf]),
  ]);
  const f = featureScan.rows[0];
  const hours = toNum(f.hours);
  const rawRows = Number(rawCounts.rows[0].n);
  const share = (n: number | null) => (n ?? 0) / Math.max(rawRows, 1);
  const checks: QualityCheck[] = [];
  const add = (c: Omit<QualityCheck, 'severity' | 'name'> & { name: CheckName }) => checks.push({
    ...c, severity: options.severities[c.name] ?? CHECK_SEVERITIES[c.name], value: c.value === null ? null : Math.round(c.value * 10000) / 10000 });

  // Raw data.
  const complete = toNum(rawCounts.rows[0].complete);
  add({ name: 'completeness', stage: 'raw', value: rawRows ? complete : 0, threshold: `>= ${th.completenessMin}`,
    passed: rawRows > 0 && (complete ?? 0) >= th.completenessMin, ...(rawRows ? {} : { detail: 'no rows were extracted' }) });
  const nullKeys = Number(rawCounts.rows[0].null_keys);
  add({ name: 'primary_key_integrity', stage: 'raw', value: nullKeys, threshold: `<= ${th.nullPrimaryKeysMax} null keys`,
    passed: (nullKeys ?? 0) <= th.nullPrimaryKeysMax });
  add({ name: 'freshness', stage: 'raw', value: hours, threshold: `<= ${th.freshnessMaxHours} h`,
    passed: hours !== null && hours <= th.freshnessMaxHours });
  const dups = share(dupRows);
  add({ name: 'duplicates', stage: 'raw', value: dups, threshold: `<= ${th.duplicatesMax}`, passed: dups <= th.duplicatesMax });
  add({ name: 'outliers', stage: 'raw', value: outliers, threshold: `<= ${th.outliersMax} beyond 3 sd`,
    passed: (outliers ?? 0) <= th.outliersMax });
  const badTypesShare = share(badTypes);
  add({ name: 'data_types', stage: 'raw', value: badTypesShare, threshold: `<= ${th.invalidTypesMax}`,
    passed: badTypesShare <= th.invalidTypesMax });
  const badRulesShare = share(badRules);
  add({ name: 'business_rules', stage: 'raw', value: badRulesShare, threshold: `<= ${th.businessRuleViolationsMax}`,
    passed: badRulesShare <= th.businessRuleViolationsMax });

  // Features.
  const users = Number(f.users);
  const outOfRange = Number(f.out_of_range);
  add({ name: 'value_ranges', stage: 'features', value: outOfRange, threshold: '0 users with a feature out of its range',
    passed: outOfRange === 0 });
  const current: FeatureStats = { avgTicketMedio: toNum(f.t), avgTotalTransactions: toNum(f.n), avgChurnRisk: toNum(f.c) };
  const previous = await db.query<{ stats: FeatureStats }>(`SELECT report->'stats' AS stats FROM ml_features.quality_reports
      WHERE report->>'dataset' = $1 AND report ? 'stats' AND run_id <> $2 ORDER BY id DESC LIMIT 1`, [dataset(options), run.runId]);
  const before = previous.rows[0]?.stats;
  const drift = before ? Math.max(...(['avgTicketMedio', 'avgTotalTransactions', 'avgChurnRisk'] as const).map((k) =>
    before[k] && current[k] !== null ? Math.abs(current[k]! - before[k]!) / Math.abs(before[k]!) : 0)) : null;
  add({ name: 'statistical_distribution', stage: 'features', value: drift, threshold: `<= ${th.driftMax} relative change of the means`,
    passed: drift === null || drift <= th.driftMax, ...(before ? {} : { detail: 'first run on these sources: no baseline yet' }) });
  const corr = toNum(f.corr);
  add({ name: 'feature_correlation', stage: 'features', value: corr, threshold: `<= ${th.correlationMax} |r| between features`,
    passed: corr === null || corr <= th.correlationMax });
  const ready = toNum(f.ready);
  add({ name: 'ml_readiness', stage: 'features', value: users ? ready : 0, threshold: `>= ${th.completenessMin} users with every model feature`,
    passed: users > 0 && (ready ?? 0) >= th.completenessMin, ...(unavailable.length ? { detail: `without ${unavailable.join(', ')} (no source has their column)` } : {}) });

  return { ...scoreChecks(checks, options.allowHigh), stats: current };
}

const toNum = (v: string | null) => (v === null ? null : Number(v));

/** Which sources a report belongs to (drift compares with the previous run on the same ones). */
export const dataset = (options: CrmFeaturesOptions) => `${options.sourceTable}|${options.lakePrefix}`;

/** Weight of a check in the score. */
export const SEVERITY_WEIGHTS: Record<Severity, number> = { critical: 4, high: 3, medium: 2, low: 1 };

/**
 * Score = weighted share of passed checks; the gate passes unless a critical check failed, or a high one did without
 * allowHigh. Medium and low failures are only reported.
 */
export function scoreChecks(checks: QualityCheck[], allowHigh = false): QualityReport {
  const weight = (c: QualityCheck) => SEVERITY_WEIGHTS[c.severity];
  const total = checks.reduce((s, c) => s + weight(c), 0);
  const passed = checks.filter((c) => c.passed).reduce((s, c) => s + weight(c), 0);
  const score = total ? Math.round((passed / total) * 10000) / 10000 : 0;
  const failed = (severity: Severity) => checks.filter((c) => !c.passed && c.severity === severity).map((c) => c.name);
  const [criticalFailures, highFailures, mediumFailures, lowFailures] = (['critical', 'high', 'medium', 'low'] as const).map(failed);
  return {
    score, grade: gradeFor(score), passed: criticalFailures.length === 0 && (allowHigh || highFailures.length === 0),
    criticalFailures, highFailures, mediumFailures, lowFailures, allowHigh, checks,
  };
}

/** Runs the checks and stores the report (every run, pass or fail). */
export async function validateQuality(
  deps: CrmDeps, options: CrmFeaturesOptions, run: RunRef, asOf: string, plan?: IncrementalPlan,
): Promise<QualityReport & { durationMs: number }> {
  const started = Date.now();
  const { stats, ...report } = await runQualityChecks(deps, options, run, asOf, plan);
  await deps.target.query('DELETE FROM ml_features.quality_reports WHERE workflow_id = $1 AND run_id = $2', [run.workflowId, run.runId]);
  await deps.target.query(`INSERT INTO ml_features.quality_reports (workflow_id, run_id, score, grade, passed, report)
    VALUES ($1, $2, $3, $4, $5, $6)`, [run.workflowId, run.runId, report.score, report.grade, report.passed,
    JSON.stringify({ ...report, stats, dataset: dataset(options) })]);
  return { ...report, durationMs: Date.now() - started };
}
