// The quality gate, before anything is loaded: five checks, each a share (or a number of days) against a configured
// threshold. Every report is stored in sales_etl.quality_reports; the workflow fails the run when one check fails.
import type { QualityCheck, QualityReport, RunRef, SalesThresholds } from '../../lib/contracts/sales-warehouse';
import type { CleanStats } from './clean';
import { INVALID_REASONS, REFERENCE_REASONS } from './clean';
import type { SalesDeps } from './extract';
import { AMBIGUOUS_NUMBER_REASON } from '../../lib/io/numbers';

const round = (v: number) => Math.round(v * 10000) / 10000;
const daysBetween = (from: string, to: string) => Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86400_000);

export function qualityChecks(stats: CleanStats, th: SalesThresholds, asOf: string): QualityReport {
  const raw = stats.rawRows + stats.leadRows;
  const share = (n: number, of: number) => round(n / Math.max(of, 1));
  const sum = (reasons: string[]) => reasons.reduce((s, r) => s + (stats.reasons[r] ?? 0), 0);
  // A number the source's locale cannot read one way (each such reason names its column and value) is a bad value.
  const ambiguous = Object.keys(stats.reasons).filter((r) => r.startsWith(AMBIGUOUS_NUMBER_REASON));
  const completeness = stats.rawRows ? share(stats.completeRows, stats.rawRows) : 0;
  const duplicates = share(stats.duplicatesRemoved, stats.rawRows);
  const references = share(sum(REFERENCE_REASONS), raw);
  const invalid = share(sum([...INVALID_REASONS, ...ambiguous]), raw);
  const age = stats.newestSaleDate ? daysBetween(stats.newestSaleDate, asOf) : null;
  const checks: QualityCheck[] = [
    stats.rawRows === 0 && (stats.unchangedRows > 0 || stats.changesOnly === true)
      ? { name: 'completeness', value: 1, threshold: `>= ${th.completenessMin}`, passed: true, detail: 'no sales row changed since the watermark' }
      : { name: 'completeness', value: completeness, threshold: `>= ${th.completenessMin}`, passed: stats.rawRows > 0 && completeness >= th.completenessMin,
        ...(stats.rawRows ? {} : { detail: 'no sales rows were extracted' }) },
    { name: 'uniqueness', value: duplicates, threshold: `<= ${th.duplicatesMax} repeated sale_id`, passed: duplicates <= th.duplicatesMax },
    { name: 'referential_integrity', value: references, threshold: `<= ${th.referentialMax} unknown state, channel or currency`,
      passed: references <= th.referentialMax },
    { name: 'value_ranges', value: invalid, threshold: `<= ${th.invalidValuesMax} unreadable or out-of-range values`, passed: invalid <= th.invalidValuesMax },
    { name: 'freshness', value: age, threshold: `<= ${th.freshnessMaxDays} days since the newest sale`,
      passed: age !== null && age <= th.freshnessMaxDays, ...(age === null ? { detail: 'no valid sale' } : {}) },
  ];
  const failed = checks.filter((c) => !c.passed).map((c) => c.name);
  return { passed: failed.length === 0, failed, checks };
}

/** Computes the report and stores it (every run, pass or fail; a retried attempt replaces its own row). */
export async function validateSales(deps: SalesDeps, run: RunRef, stats: CleanStats, thresholds: SalesThresholds, asOf: string): Promise<QualityReport> {
  const report = qualityChecks(stats, thresholds, asOf);
  await deps.target.query(`INSERT INTO sales_etl.quality_reports (workflow_id, run_id, passed, report) VALUES ($1, $2, $3, $4)
    ON CONFLICT (workflow_id, run_id) DO UPDATE SET passed = EXCLUDED.passed, report = EXCLUDED.report, created_at = now()`,
  [run.workflowId, run.runId, report.passed, JSON.stringify({ ...report, asOf, reasons: stats.reasons })]);
  return report;
}
