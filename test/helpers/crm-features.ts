// A small hand-checked crmFeatures dataset: four users whose every feature was worked out by hand (formulas in
// docs/pipelines/crm-features.md).
import type { S3Client } from '@aws-sdk/client-s3';
import type pg from 'pg';
import { createTransactionsTable, insertTransactions, putLakeFile, toCsv, toJsonLines, toParquet, type TransactionRow } from '../../lib/sample-data/crm-features';

export const AS_OF = '2026-03-16T12:00:00';

let counter = 0;
/** A fresh, valid, deterministic-looking uuid per row. */
const id = () => `00000000-0000-4000-a000-${String(++counter).padStart(12, '0')}`;

const row = (user: string, type: string, amount: string, at: string, game: string | null, channel: string, status = 'completed'): TransactionRow =>
  ({ transaction_id: id(), user_id: user, amount, transaction_type: type, status, created_at: at, game_type: game, channel });

/** Users `${p}A` (high roller) and `${p}D` (bonus hunter) live in the source table; `${p}B` (weekend) and `${p}C` (churned) in the lake. */
export function handChecked(p: string) {
  const source = [
    row(`${p}A`, 'deposit', '1000.00', '2026-03-14 20:00:00', null, 'whatsapp'),
    row(`${p}A`, 'bet', '100.00', '2026-03-14 21:00:00', 'poker', 'whatsapp'),
    row(`${p}A`, 'bet', '300.00', '2026-03-15 22:00:00', 'poker', 'whatsapp'),
    row(`${p}A`, 'bet', '200.00', '2026-03-16 10:00:00', 'esportes', 'email'),
    row(`${p}A`, 'withdrawal', '500.00', '2026-03-16 11:00:00', null, 'whatsapp'),
    row(`${p}D`, 'deposit', '200.00', '2026-03-10 09:00:00', null, 'email'),
    row(`${p}D`, 'withdrawal', '180.00', '2026-03-10 09:30:00', null, 'email'),
    row(`${p}D`, 'deposit', '200.00', '2026-03-12 19:00:00', null, 'sms'),
    row(`${p}D`, 'bet', '5.00', '2026-03-12 19:10:00', 'cassino', 'email'),
    row(`${p}D`, 'withdrawal', '190.00', '2026-03-13 08:00:00', null, 'email'),
    row(`${p}D`, 'deposit', '100.00', '2026-03-15 02:00:00', null, 'email'),
  ];
  const lake = [
    row(`${p}B`, 'deposit', '50.00', '2026-03-07 14:00:00', null, 'push'),
    row(`${p}B`, 'bet', '10.00', '2026-03-07 15:00:00', 'slots', 'push'),
    row(`${p}B`, 'bet', '20.00', '2026-03-08 16:00:00', 'slots', 'push'),
    row(`${p}B`, 'win', '30.00', '2026-03-08 16:30:00', 'slots', 'push'),
    row(`${p}B`, 'bet', '30.00', '2026-03-14 13:00:00', 'crash', 'push'),
    row(`${p}C`, 'deposit', '100.00', '2026-01-05 03:00:00', null, 'sms'),
    row(`${p}C`, 'bet', '50.00', '2026-01-05 03:30:00', 'crash', 'sms'),
    row(`${p}C`, 'bet', '50.00', '2026-01-06 04:00:00', 'crash', 'sms'),
  ];
  // Five rows for the quarantine, one reason each.
  const bad = [
    row(`${p}B`, 'deposit', '-20.00', '2026-03-09 10:00:00', null, 'push'),
    row(`${p}A`, 'bet', '999.00', '2026-04-01 10:00:00', 'poker', 'whatsapp'),
    { ...source[1] },
    row(`${p}C`, 'bet', '10.00', '2026-01-07 10:00:00', 'crash', 'sms', 'pending'),
    row(`${p}C`, 'bet', 'abc', '2026-01-07 11:00:00', 'crash', 'sms'),
  ];
  return { source, lake, bad };
}

export const EXPECTED_REASONS = {
  'negative amount': 1, 'future created_at': 1, 'duplicate transaction_id': 1,
  'status pending (only completed transactions count)': 1, 'invalid amount': 1,
};

/** Every feature of the four users, worked out by hand. */
export const expectedFeatures = (p: string) => [
  { user_id: `${p}A`, favorite_game_type: 'poker', game_diversity_score: 0.4, bet_volatility: 0.4082, ticket_medio: 200, ticket_medio_categoria: 'alto',
    total_transactions: 5, total_deposits: 1000, total_withdrawals: 500, balance_ratio: 2, dias_semana_preferidos: 'segunda,sabado',
    horarios_atividade: 'noite', weekend_activity_ratio: 0.6, activity_regularity: 1, frequencia_jogo: 1, recency_days: 0,
    recency_score: 4, frequency_score: 2, monetary_score: 4, rfm_segment: 'promising', customer_lifetime_value_score: 1,
    churn_risk_score: 0, behavioral_diversity_score: 0.5196, canal_preferido: 'whatsapp',
    bet_count: 3, win_rate: 0, game_type_entropy: 0.9183, total_bet_amount: 600, total_win_amount: 0, net_gaming_revenue: 600,
    bet_amount_p50: 200, bet_amount_p90: 280, bonus_usage_share: 0, tenure_days: 1, days_active_7d: 3, days_active_30d: 3, days_active_90d: 3,
    spend_trend_30d: 1, night_activity_share: 0, session_count: 5, avg_session_minutes: 0, avg_hours_between_transactions: 9.75,
    stddev_hours_between_transactions: 9.8837, rfm_score: 10, churn_label: 0 },
  { user_id: `${p}B`, favorite_game_type: 'slots', game_diversity_score: 0.4, bet_volatility: 0.4082, ticket_medio: 20, ticket_medio_categoria: 'baixo',
    total_transactions: 5, total_deposits: 50, total_withdrawals: 0, balance_ratio: 50, dias_semana_preferidos: 'sabado,domingo',
    horarios_atividade: 'tarde', weekend_activity_ratio: 1, activity_regularity: 0.375, frequencia_jogo: 1, recency_days: 1,
    recency_score: 2, frequency_score: 3, monetary_score: 1, rfm_segment: 'at_risk', customer_lifetime_value_score: 0,
    churn_risk_score: 0.1992, behavioral_diversity_score: 0.4214, canal_preferido: 'push',
    bet_count: 3, win_rate: 0.3333, game_type_entropy: 0.9183, total_bet_amount: 60, total_win_amount: 30, net_gaming_revenue: 30,
    bet_amount_p50: 20, bet_amount_p90: 28, bonus_usage_share: 0, tenure_days: 8, days_active_7d: 1, days_active_30d: 3, days_active_90d: 3,
    spend_trend_30d: 1, night_activity_share: 0, session_count: 4, avg_session_minutes: 7.5, avg_hours_between_transactions: 41.75,
    stddev_hours_between_transactions: 57.8668, rfm_score: 6, churn_label: 0 },
  { user_id: `${p}C`, favorite_game_type: 'crash', game_diversity_score: 0.2, bet_volatility: 0, ticket_medio: 50, ticket_medio_categoria: 'medio',
    total_transactions: 3, total_deposits: 100, total_withdrawals: 0, balance_ratio: 100, dias_semana_preferidos: 'segunda,terca',
    horarios_atividade: 'madrugada', weekend_activity_ratio: 0, activity_regularity: 1, frequencia_jogo: 1, recency_days: 69,
    recency_score: 1, frequency_score: 1, monetary_score: 2, rfm_segment: 'hibernating', customer_lifetime_value_score: 0.3333,
    churn_risk_score: 0.7, behavioral_diversity_score: 0.3089, canal_preferido: 'sms',
    bet_count: 2, win_rate: 0, game_type_entropy: 0, total_bet_amount: 100, total_win_amount: 0, net_gaming_revenue: 100,
    bet_amount_p50: 50, bet_amount_p90: 50, bonus_usage_share: 0, tenure_days: 70, days_active_7d: 0, days_active_30d: 0, days_active_90d: 2,
    spend_trend_30d: 0, night_activity_share: 1, session_count: 2, avg_session_minutes: 15, avg_hours_between_transactions: 12.5,
    stddev_hours_between_transactions: 12, rfm_score: 4, churn_label: 1 },
  { user_id: `${p}D`, favorite_game_type: 'cassino', game_diversity_score: 0.2, bet_volatility: 0, ticket_medio: 5, ticket_medio_categoria: 'baixo',
    total_transactions: 6, total_deposits: 500, total_withdrawals: 370, balance_ratio: 1.3514, dias_semana_preferidos: 'terca,quinta',
    horarios_atividade: 'manha', weekend_activity_ratio: 0.1667, activity_regularity: 0.6667, frequencia_jogo: 0.25, recency_days: 1,
    recency_score: 3, frequency_score: 4, monetary_score: 3, rfm_segment: 'champions', customer_lifetime_value_score: 0.6667,
    churn_risk_score: 0.1117, behavioral_diversity_score: 0.5679, canal_preferido: 'email',
    bet_count: 1, win_rate: 0, game_type_entropy: 0, total_bet_amount: 5, total_win_amount: 0, net_gaming_revenue: 5,
    bet_amount_p50: 5, bet_amount_p90: 5, bonus_usage_share: 0, tenure_days: 6, days_active_7d: 4, days_active_30d: 4, days_active_90d: 4,
    spend_trend_30d: 1, night_activity_share: 0.1667, session_count: 4, avg_session_minutes: 10, avg_hours_between_transactions: 22.6,
    stddev_hours_between_transactions: 23.1578, rfm_score: 10, churn_label: 0 },
];

const NUMERIC = ['game_diversity_score', 'bet_volatility', 'ticket_medio', 'total_deposits', 'total_withdrawals', 'balance_ratio',
  'weekend_activity_ratio', 'activity_regularity', 'frequencia_jogo', 'customer_lifetime_value_score', 'churn_risk_score', 'behavioral_diversity_score',
  'win_rate', 'game_type_entropy', 'total_bet_amount', 'total_win_amount', 'net_gaming_revenue', 'bet_amount_p50', 'bet_amount_p90',
  'bonus_usage_share', 'spend_trend_30d', 'night_activity_share', 'avg_session_minutes', 'avg_hours_between_transactions',
  'stddev_hours_between_transactions'];

/** The loaded features of users whose id starts with `p`, numbers as numbers, without updated_at / last_transaction_at. */
export async function loadedFeatures(target: pg.Pool, p: string, table = 'ml_features.user_features') {
  const { rows } = await target.query(`SELECT * FROM ${table} WHERE user_id LIKE $1 ORDER BY user_id`, [`${p}%`]);
  return rows.map((r: Record<string, unknown>) => {
    const rest = { ...r };
    delete rest.updated_at;
    delete rest.last_transaction_at;
    for (const k of NUMERIC) rest[k] = rest[k] === null ? null : Number(rest[k]);
    return rest;
  });
}

export type LakeFormat = 'parquet' | 'csv' | 'json';

/** Writes the source rows to a table of the test's own, and the lake rows as one file per format given. */
export async function writeDataset(deps: { sourceAdmin: pg.Pool; s3: S3Client; bucket: string }, table: string, prefix: string,
  data: { source: TransactionRow[]; lake: TransactionRow[]; bad: TransactionRow[] }, formats: LakeFormat[]) {
  await deps.sourceAdmin.query(`DROP TABLE IF EXISTS ${table}`);
  await createTransactionsTable(deps.sourceAdmin, table);
  await insertTransactions(deps.sourceAdmin, table, data.source);
  const lake = [...data.lake, ...data.bad];
  const share = Math.ceil(lake.length / formats.length);
  for (const [i, format] of formats.entries()) {
    const part = lake.slice(i * share, (i + 1) * share);
    const body = format === 'parquet' ? await toParquet(part) : format === 'csv' ? toCsv(part) : toJsonLines(part);
    await putLakeFile(deps.s3, deps.bucket, `${prefix}part-${i}.${format}`, body);
  }
}
