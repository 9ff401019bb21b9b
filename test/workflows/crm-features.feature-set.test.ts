// The whole feature set: every column in ml_features.user_features and in one of the document's five groups; a
// bonus user's and a growing spender's features worked out by hand; and the streaming mode computing the same values
// as the daily run.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createCrmActivities } from '../../activities/crm-features';
import { FEATURE_COLUMNS, FEATURE_GROUPS } from '../../activities/crm-features/transform';
import { crmFeaturesInputSchema, stagingTables } from '../../lib/contracts/crm-features';
import type { BatchApplied } from '../../lib/contracts/crm-features-stream';
import { createPool } from '../../lib/io/postgres';
import { createS3Client } from '../../lib/io/s3';
import { putLakeFile, toCsv, type TransactionRow } from '../../lib/sample-data/crm-features';
import { AS_OF, expectedFeatures, handChecked, loadedFeatures, writeDataset } from '../helpers/crm-features';
import { openTestContext, settings, uniqueId, type TestContext } from '../helpers/env';

// Ranked among a population (the run's users, or every loaded user for the stream): not comparable across the two.
const RELATIVE = ['recency_score', 'frequency_score', 'monetary_score', 'rfm_score', 'rfm_segment', 'customer_lifetime_value_score'];
const absolute = (row: Record<string, unknown>) => Object.fromEntries(Object.entries(row).filter(([k]) => !RELATIVE.includes(k)));

const tx = (user: string, type: string, amount: string, at: string, game: string | null): TransactionRow =>
  ({ transaction_id: randomUUID(), user_id: user, amount, transaction_type: type, status: 'completed', created_at: at, game_type: game, channel: 'email' });

describe('crmFeatures feature set', () => {
  let ctx: TestContext;
  const s3 = createS3Client(settings.s3);
  const source = createPool(settings.postgres.sourceDatabaseUrl);
  const p = `${uniqueId('fs')}-`;
  const table = `crm_fs_${p.slice(3, 11)}`;
  const prefix = `lake/${p}`;
  const run = { workflowId: 'crm-feature-set-test', runId: randomUUID() };
  let activities: ReturnType<typeof createCrmActivities>;
  // The hand-checked users with ids of their own (the stream's store of transactions is shared by every test) ...
  const ids = new Map<string, string>();
  const renew = (r: TransactionRow) => ({ ...r, transaction_id: ids.get(r.transaction_id) ?? ids.set(r.transaction_id, randomUUID()).get(r.transaction_id)! });
  const hand = handChecked(p);
  const data = { source: hand.source.map(renew), lake: hand.lake.map(renew), bad: hand.bad.map(renew) };
  // ... and E, who plays with a bonus: deposit 100, bonus 50, bets 40 and 60 on slots, a win of 80, a withdrawal of 120.
  const bonusUser = [
    tx(`${p}E`, 'deposit', '100.00', '2026-03-02 10:00:00', null),
    tx(`${p}E`, 'bonus', '50.00', '2026-03-02 10:05:00', null),
    tx(`${p}E`, 'bet', '40.00', '2026-03-02 10:10:00', 'slots'),
    tx(`${p}E`, 'win', '80.00', '2026-03-02 10:20:00', 'slots'),
    tx(`${p}E`, 'bet', '60.00', '2026-03-02 23:00:00', 'slots'),
    tx(`${p}E`, 'withdrawal', '120.00', '2026-03-03 09:00:00', null),
  ];
  // ... and F, whose spending grew: a bet before both 30-day windows, 30 in the previous one, 90 in the last one.
  const growingUser = [
    tx(`${p}F`, 'bet', '50.00', '2026-01-10 10:00:00', 'slots'),
    tx(`${p}F`, 'bet', '30.00', '2026-02-01 10:00:00', 'slots'),
    tx(`${p}F`, 'bet', '90.00', '2026-03-10 10:00:00', 'slots'),
  ];
  const options = crmFeaturesInputSchema.parse({ sourceTable: table, lakePrefix: `s3:${prefix}`, asOf: AS_OF });

  beforeAll(async () => {
    ctx = await openTestContext('crm-feature-set', { worker: false });
    activities = createCrmActivities({ target: ctx.target, source, s3, bucket: settings.s3.bucket });
    await writeDataset({ sourceAdmin: ctx.sourceAdmin, s3, bucket: settings.s3.bucket }, table, prefix,
      { ...data, lake: [...data.lake, ...bonusUser, ...growingUser] }, ['csv']);
  });
  afterAll(async () => {
    await activities?.crmDropStaging(run);
    s3.destroy();
    await source.end();
    await ctx?.close();
  });

  it('writes every column of ml_features.user_features, each in one of the five groups', async () => {
    // The document's own names sit in its groups: Comportamentais (Jogo e Apostas; Transacionais), Temporais,
    // Segmentação (RFM Analysis; ML Scores).
    const inGroup = (group: keyof typeof FEATURE_GROUPS, names: string[]) =>
      assert.deepEqual(names.filter((n) => !(FEATURE_GROUPS[group] as readonly string[]).includes(n)), [], group);
    inGroup('behaviour', ['favorite_game_type', 'game_diversity_score', 'bet_volatility']);
    inGroup('financial', ['ticket_medio_categoria', 'total_transactions', 'balance_ratio']);
    inGroup('temporal', ['dias_semana_preferidos', 'horarios_atividade', 'weekend_activity_ratio', 'activity_regularity']);
    inGroup('rfm', ['recency_score', 'frequency_score', 'monetary_score', 'rfm_segment']);
    inGroup('scores', ['customer_lifetime_value_score', 'churn_risk_score', 'behavioral_diversity_score']);
    const grouped = Object.values(FEATURE_GROUPS).flat();
    assert.equal(new Set(grouped).size, grouped.length, 'no feature in two groups');
    assert.deepEqual([...grouped].sort(), FEATURE_COLUMNS.filter((c) => c !== 'user_id').sort());
    assert.equal(grouped.length, 45);
    const { rows } = await ctx.target.query(`SELECT column_name AS c FROM information_schema.columns
      WHERE table_schema = 'ml_features' AND table_name = 'user_features' ORDER BY ordinal_position`);
    // updated_at came with the first 25 columns (001_ml_features.sql), the rest were added after it (003_more_features.sql).
    assert.deepEqual(rows.map((r) => r.c), [...FEATURE_COLUMNS.slice(0, 25), 'updated_at', ...FEATURE_COLUMNS.slice(25)]);
  });

  it('the daily run and the stream give the same values; the bonus user and the growing spender as worked out by hand', async () => {
    // Daily run's steps, on the source table and the lake.
    const env = new MockActivityEnvironment();
    await env.run(activities.crmExtract, options, run);
    await env.run(activities.crmClean, options, run, AS_OF);
    await env.run(activities.crmComputeFeatures, options, run, AS_OF);
    const daily = await loadedFeatures(ctx.target, p, stagingTables(run.runId).features);

    // The stream: every transaction of the six users arrives in one batch file.
    const key = `stream/${p}all.csv`;
    await putLakeFile(s3, settings.s3.bucket, key, toCsv([...data.source, ...data.lake, ...bonusUser, ...growingUser, ...data.bad]));
    const applied = await env.run(activities.crmApplyBatch,
      { streamId: 'crm-feature-set-test', batch: { batchId: `${p}all`, key: `s3:${key}` }, asOf: AS_OF, ticketCutoffs: options.ticketCutoffs }) as BatchApplied;
    assert.deepEqual([applied.rows, applied.quarantined, applied.users], [28, 5, 6]);
    const streamed = await loadedFeatures(ctx.target, p);

    assert.deepEqual(streamed.map(absolute), daily.map(absolute));
    assert.deepEqual(daily.slice(0, 4).map(absolute), expectedFeatures(p).map(absolute), 'A-D as in the hand-checked story');
    const e = daily[4];
    assert.deepEqual({
      total_transactions: e.total_transactions, bet_count: e.bet_count, win_rate: e.win_rate, total_bet_amount: e.total_bet_amount,
      total_win_amount: e.total_win_amount, net_gaming_revenue: e.net_gaming_revenue, bonus_usage_share: e.bonus_usage_share,
      balance_ratio: e.balance_ratio, bet_amount_p50: e.bet_amount_p50, bet_amount_p90: e.bet_amount_p90, game_type_entropy: e.game_type_entropy,
      session_count: e.session_count, avg_session_minutes: e.avg_session_minutes, tenure_days: e.tenure_days, days_active_7d: e.days_active_7d,
      days_active_30d: e.days_active_30d, days_active_90d: e.days_active_90d, spend_trend_30d: e.spend_trend_30d, night_activity_share: e.night_activity_share,
      recency_days: e.recency_days, churn_label: e.churn_label, behavioral_diversity_score: e.behavioral_diversity_score,
    }, {
      total_transactions: 6, bet_count: 2, win_rate: 0.5, total_bet_amount: 100, total_win_amount: 80,
      net_gaming_revenue: -30, // 100 bet - 80 won - 50 bonus
      bonus_usage_share: 0.3333, // 50 / (100 + 50)
      balance_ratio: 0.8333, // 100 / 120
      bet_amount_p50: 50, bet_amount_p90: 58, // 40 + 0.9 x (60 - 40)
      game_type_entropy: 0,
      session_count: 3, avg_session_minutes: 6.67, // 10:00-10:20 (20 min), 23:00, next day 09:00: 20 / 3
      tenure_days: 14, days_active_7d: 0, days_active_30d: 2, days_active_90d: 2, spend_trend_30d: 1, night_activity_share: 0,
      recency_days: 13, churn_label: 0,
      behavioral_diversity_score: 0.4964, // (1/5 + 4/4 + 2/4 + 2/7) / 4
    });
    const f = daily[5];
    assert.deepEqual({
      spend_trend_30d: f.spend_trend_30d, days_active_7d: f.days_active_7d, days_active_30d: f.days_active_30d, days_active_90d: f.days_active_90d,
      tenure_days: f.tenure_days, recency_days: f.recency_days, churn_label: f.churn_label,
      avg_hours_between_transactions: f.avg_hours_between_transactions, stddev_hours_between_transactions: f.stddev_hours_between_transactions,
    }, {
      spend_trend_30d: 0.5, // (90 - 30) / (90 + 30): the bet of 01-10 is more than 60 days before asOf
      days_active_7d: 1, days_active_30d: 1, days_active_90d: 3,
      tenure_days: 65, recency_days: 6, churn_label: 0,
      avg_hours_between_transactions: 708, // gaps of 22 days (528 h) and 37 days (888 h)
      stddev_hours_between_transactions: 180,
    });
  });
});
