// Anomaly alerts after each load. The last complete day (the run's asOf minus one) is compared, KPI by KPI, with the
// same weekday of the `weeks` weeks before it, by a robust z-score: z = 0.6745 (x - median) / MAD (Iglewicz and
// Hoaglin); with MAD 0 the mean absolute deviation (x 1.2533) stands in, and with that 0 too any change is an anomaly.
// |z| above the threshold is an anomaly: stored in sales_etl.anomalies, and POSTed as JSON to ALERT_WEBHOOK_URL when
// set. Nothing here fails the run: a webhook that is down is recorded (notify_error) and tried again after the next load.
import type { AlertSettings, AlertsOutcome, Anomaly, RunRef } from '../../lib/contracts/sales-warehouse';
import type { SalesDeps } from './extract';
import { WAREHOUSE } from './load';

export const ALERT_KPIS = ['revenue', 'orders', 'average_ticket', 'refund_rate'] as const;
type Kpi = (typeof ALERT_KPIS)[number];

const addDays = (day: string, n: number) => new Date(Date.parse(`${day}T00:00:00Z`) + n * 86400_000).toISOString().slice(0, 10);

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The robust z-score of `value` against `history` (null: infinitely far, the history never varies). */
export function robustZ(value: number, history: number[]): number | null {
  const m = median(history);
  const mad = median(history.map((v) => Math.abs(v - m)));
  if (mad > 0) return (0.6745 * (value - m)) / mad;
  const meanAd = history.reduce((s, v) => s + Math.abs(v - m), 0) / history.length;
  if (meanAd > 0) return (value - m) / (1.2533 * meanAd);
  return value === m ? 0 : null;
}

const round = (v: number, digits = 4) => Math.round(v * 10 ** digits) / 10 ** digits;

/** Finds, stores and sends the anomalies of the last complete day; returns what happened, never throws. */
export async function detectAnomalies(deps: SalesDeps, run: RunRef, asOf: string, settings: AlertSettings): Promise<AlertsOutcome> {
  const day = addDays(asOf, -1);
  try {
    const { rows } = await deps.target.query<{ w: number; revenue: string; orders: string; average_ticket: string | null; refund_rate: string | null }>(
      `WITH days AS (SELECT w, $1::date - 7 * w AS day FROM generate_series(0, $2::int) w
                      WHERE $1::date - 7 * w >= (SELECT min(sale_date) FROM ${WAREHOUSE}.sales_fact))
       SELECT d.w, coalesce(sum(f.sales_amount) FILTER (WHERE NOT f.refunded), 0) AS revenue,
              count(f.sale_id) FILTER (WHERE NOT f.refunded) AS orders,
              sum(f.sales_amount) FILTER (WHERE NOT f.refunded) / nullif(count(f.sale_id) FILTER (WHERE NOT f.refunded), 0) AS average_ticket,
              count(f.sale_id) FILTER (WHERE f.refunded)::numeric / nullif(count(f.sale_id), 0) AS refund_rate
       FROM days d LEFT JOIN ${WAREHOUSE}.sales_fact f
         ON f.date_key = (extract(year FROM d.day) * 10000 + extract(month FROM d.day) * 100 + extract(day FROM d.day))::int
       GROUP BY d.w ORDER BY d.w`, [day, settings.weeks]);
    const today = rows.find((r) => r.w === 0);
    const anomalies: Anomaly[] = [];
    if (today) {
      for (const kpi of ALERT_KPIS) {
        const valueOf = (r: (typeof rows)[number]) => (r[kpi] === null ? null : Number(r[kpi]));
        const value = valueOf(today);
        const history = rows.filter((r) => r.w > 0).map(valueOf).filter((v): v is number => v !== null);
        if (value === null || history.length < settings.minHistory) continue;
        const z = robustZ(value, history);
        if (z !== null && Math.abs(z) <= settings.zThreshold) continue;
        const m = median(history);
        anomalies.push({ day, kpi, value: round(value), median: round(m), mad: round(median(history.map((v) => Math.abs(v - m)))),
          robustZ: z === null ? null : round(z, 2), direction: value > m ? 'up' : 'down', history: history.map((v) => round(v)) });
      }
    }
    await store(deps, run, anomalies);
    const notified = await notify(deps, run);
    return { day, checked: today ? ALERT_KPIS.length : 0, found: anomalies.length, ...notified };
  } catch (error) {
    return { day, checked: 0, found: 0, notified: 0, error: `anomaly check failed: ${(error as Error).message}` };
  }
}

async function store(deps: SalesDeps, run: RunRef, anomalies: Anomaly[]): Promise<void> {
  if (!anomalies.length) return;
  await deps.target.query(`INSERT INTO sales_etl.anomalies (day, kpi, value, median, mad, robust_z, direction, history, workflow_id, run_id)
    SELECT a.day, a.kpi, a.value, a.median, a.mad, a."robustZ", a.direction, ARRAY(SELECT jsonb_array_elements_text(a.history)::numeric), $2, $3
    FROM jsonb_to_recordset($1::jsonb) AS a(day date, kpi text, value numeric, median numeric, mad numeric, "robustZ" numeric, direction text, history jsonb)
    ON CONFLICT (day, kpi) DO UPDATE SET value = EXCLUDED.value, median = EXCLUDED.median, mad = EXCLUDED.mad, robust_z = EXCLUDED.robust_z,
      direction = EXCLUDED.direction, history = EXCLUDED.history, workflow_id = EXCLUDED.workflow_id, run_id = EXCLUDED.run_id, detected_at = now()`,
  [JSON.stringify(anomalies), run.workflowId, run.runId]);
}

/** POSTs every anomaly not sent yet (this run's, and earlier ones whose POST failed) to ALERT_WEBHOOK_URL. */
async function notify(deps: SalesDeps, run: RunRef): Promise<{ notified: number; error?: string }> {
  const url = deps.secret('ALERT_WEBHOOK_URL');
  if (!url) return { notified: 0 };
  const { rows } = await deps.target.query<{ id: string; day: string; kpi: Kpi; value: string; median: string; mad: string; robust_z: string | null; direction: string; history: string[] }>(
    `SELECT id, to_char(day, 'YYYY-MM-DD') AS day, kpi, value, median, mad, robust_z, direction, history::text[] AS history
     FROM sales_etl.anomalies WHERE notified_at IS NULL ORDER BY day, kpi`);
  if (!rows.length) return { notified: 0 };
  const body = {
    pipeline: 'salesWarehouse', workflowId: run.workflowId, runId: run.runId,
    rule: 'robust z-score against the same weekday of the previous weeks',
    anomalies: rows.map((r) => ({ day: r.day, kpi: r.kpi, value: Number(r.value), median: Number(r.median), mad: Number(r.mad),
      robustZ: r.robust_z === null ? null : Number(r.robust_z), direction: r.direction, history: r.history.map(Number) })),
  };
  const ids = rows.map((r) => r.id);
  try {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`the webhook answered ${response.status} ${response.statusText}`);
    await deps.target.query('UPDATE sales_etl.anomalies SET notified_at = now(), notify_error = NULL WHERE id = ANY($1)', [ids]);
    return { notified: rows.length };
  } catch (error) {
    const message = `POST ${new URL(url).origin} failed: ${(error as Error).message}`;
    await deps.target.query('UPDATE sales_etl.anomalies SET notify_error = $2 WHERE id = ANY($1)', [ids, message]);
    return { notified: 0, error: message };
  }
}
