// crmFeatures: its input (with defaults and thresholds), result and progress. Shared by the workflow and the activities.
import { z } from 'zod';
import { timeZoneSchema } from '../workflow/zoned-time';
import { stagingTable } from './run';
import { numberLocaleSchema } from './number-locale';
export type { RunRef } from './run';

export const LOAD_STRATEGIES = ['merge', 'replace', 'append'] as const;

export const thresholdsSchema = z.object({
  /** Share of required fields present, 0-1 (critical). */
  completenessMin: z.number().min(0).max(1).default(0.95),
  /** Share of amounts beyond 3 standard deviations (per transaction type) or of features out of their range. */
  outliersMax: z.number().min(0).max(1).default(0.05),
  /** Share of raw rows whose transaction id repeats. */
  duplicatesMax: z.number().min(0).max(1).default(0.02),
  /** Hours since the newest clean transaction. */
  freshnessMaxHours: z.number().positive().default(24),
  /** Rows with no transaction id / user id (critical). */
  nullPrimaryKeysMax: z.number().int().min(0).default(0),
  /** Share of raw rows whose id, amount, date or type does not parse. */
  invalidTypesMax: z.number().min(0).max(1).default(0.05),
  /** Share of raw rows breaking a business rule (negative amount, future date, unknown status). */
  businessRuleViolationsMax: z.number().min(0).max(1).default(0.05),
  /** Relative change of the feature means against the previous run on the same sources. */
  driftMax: z.number().min(0).default(0.5),
  /** Largest |Pearson r| allowed between two features (redundant features hurt clustering). */
  correlationMax: z.number().min(0).max(1).default(0.98),
}).strict();

/** The document's four levels. critical: blocks the load; high: blocks it unless `allowHigh`; medium and low: reported. */
export const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** The 11 checks and the severity the document gives each. */
export const CHECK_SEVERITIES = {
  completeness: 'critical',
  primary_key_integrity: 'critical',
  freshness: 'high',
  duplicates: 'high',
  outliers: 'medium',
  data_types: 'high',
  business_rules: 'high',
  value_ranges: 'medium',
  statistical_distribution: 'low',
  feature_correlation: 'medium',
  ml_readiness: 'high',
} as const satisfies Record<string, Severity>;
export type CheckName = keyof typeof CHECK_SEVERITIES;
export const CHECK_NAMES = Object.keys(CHECK_SEVERITIES) as CheckName[];

/** Per-check severity overrides; stale data (freshness) stays at least high. */
export const severitiesSchema = z.partialRecord(z.enum(CHECK_NAMES), z.enum(SEVERITIES)).superRefine((value, ctx) => {
  if (value.freshness === 'medium' || value.freshness === 'low') {
    ctx.addIssue({ code: 'custom', path: ['freshness'], message: `data older than freshnessMaxHours is at least high: "critical" or "high", not "${value.freshness}"` });
  }
});

/**
 * Timeout and attempts of one activity. The CRM document asked for 3 attempts; 3 attempts ride out about 3 s, so a
 * database or S3 restart failed the run (issue 14): 10 attempts, 1 s doubling to 2 min, wait about 6 minutes. Input,
 * schema and permission errors are not retried at all (lib/workflow/errors.ts).
 */
const operationSchema = z.object({
  /** Longest one attempt may run (start to close). */
  timeoutMinutes: z.number().positive().max(24 * 60).default(30),
  /** Attempts in all, the first included; the delay doubles from 1 s up to 2 min (1 s, 2 s, 4 s, ...). */
  maxAttempts: z.number().int().min(1).max(100).default(10),
}).strict();
const operation = operationSchema.default(operationSchema.parse({}));
export const OPERATIONS = ['extract', 'clean', 'features', 'validate', 'load', 'restore', 'cleanup'] as const;
export type Operation = (typeof OPERATIONS)[number];
export const operationsSchema = z.object(Object.fromEntries(OPERATIONS.map((o) => [o, operation])) as Record<Operation, typeof operation>).strict();
export type OperationSettings = z.output<typeof operationSchema>;

export const crmFeaturesInputSchema = z.object({
  /** Source table on the source database (read-only user). */
  sourceTable: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).default('tbl_transactions'),
  /** Lake prefix: `s3://bucket/prefix/` or `s3:prefix/` (the configured bucket); every .parquet, .csv and .json/.jsonl below it is read. */
  lakePrefix: z.string().refine((value) => !value.split(/[\\/]/).includes('..'), 'must not contain ".." segments').default('s3:lake/transactions/'),
  /**
   * How the lake's files write amounts: `pt-BR` (1.234,56), `en-US` (1,234.56) or `auto` (quarantines 1.234, which the
   * two read differently). Default per file: pt-BR for a `;`-separated CSV or amounts with `R$`, else auto.
   */
  numberLocale: numberLocaleSchema.optional(),
  loadStrategy: z.enum(LOAD_STRATEGIES).default('merge'),
  /**
   * `full`: every user recomputed from every transaction. `incremental`: only the users with new or changed
   * transactions since the last successful incremental run are recomputed (from stored per-user aggregates and
   * transactions); everything else relative (quartiles, CLV rank, recency, windows) is refreshed set-based for every
   * user. Same features as `full` (docs/pipelines/crm-features.md#incremental-mode).
   */
  mode: z.enum(['full', 'incremental']).default('full'),
  validateOnly: z.boolean().default(false),
  /** ticket_medio (average bet) cut-offs in BRL: below `medio` is baixo, below `alto` is medio, else alto. */
  ticketCutoffs: z.object({ medio: z.number().positive().default(50), alto: z.number().positive().default(200) }).strict().default({ medio: 50, alto: 200 }),
  thresholds: thresholdsSchema.default(thresholdsSchema.parse({})),
  /** Per-check severity overrides, e.g. `{ "value_ranges": "critical" }`; default: the document's (CHECK_SEVERITIES). */
  severities: severitiesSchema.default({}),
  /** Load even when high-severity checks fail (they are still reported); critical ones always block. */
  allowHigh: z.boolean().default(false),
  backupRetentionDays: z.number().int().min(0).default(30),
  /**
   * Put this backup (`user_features_backup_<digits>`, with or without `ml_features.`) back in place of the table, after
   * backing up the table as it is; nothing else runs.
   */
  restoreBackup: z.string().regex(/^(ml_features\.)?user_features_backup_\d{14}(\d{3})?$/, 'a backup name: user_features_backup_<yyyymmddhhmmss[SSS]>').optional(),
  /** Timeout and attempts per step; default 30 minutes and 10 attempts each. */
  operations: operationsSchema.default(operationsSchema.parse({})),
  /** "Now" for recency and freshness (ISO timestamp, local time of the data); default: the workflow's start time. */
  asOf: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?/).optional(),
  /** The data's local time zone: "now" (asOf's default) is read on its clock. */
  timeZone: timeZoneSchema,
  /**
   * Was a test hook; a new run that sets it is rejected. Still parsed so that runs recorded with it replay
   * (tests inject faults through the database now).
   */
  failAfterRows: z.number().int().positive().optional(),
}).strict().superRefine((input, ctx) => {
  if (input.restoreBackup !== undefined && input.validateOnly) {
    ctx.addIssue({ code: 'custom', path: ['validateOnly'], message: 'a restore (restoreBackup) does not validate anything: leave validateOnly out' });
  }
});

export type CrmFeaturesInput = z.input<typeof crmFeaturesInputSchema>;
export type CrmFeaturesOptions = z.output<typeof crmFeaturesInputSchema>;
export type LoadStrategy = (typeof LOAD_STRATEGIES)[number];


/** Staging tables of one run (schema etl_staging), named after the run. */
export function stagingTables(runId: string) {
  return { raw: stagingTable('crm', 'raw', runId), clean: stagingTable('crm', 'clean', runId), features: stagingTable('crm', 'features', runId) };
}

/** What an incremental run decided at extract (passed to the later steps; small). */
export interface IncrementalPlan {
  /** `rebuild`: everything was read and recomputed (and the stored state rebuilt), for `reason`. */
  kind: 'incremental' | 'rebuild';
  reason?: string;
  /** Names the stored state of these sources (tables ml_features.crm_inc_<stateId>_*). */
  stateId: string;
  dataset: string;
  signature: string;
  /** The state's generation this run started from (0: none); the load refuses to apply over another one. */
  generation: number;
  previousAsOf?: string;
  /** The source's snapshot the table was read in, and its row count then. */
  snapshot: string;
  tableRows: number;
  filesRead: number;
  filesRemoved: number;
}

export interface StepMetric {
  step: string;
  rows: number;
  durationMs: number;
}

export interface QualityCheck {
  name: string;
  stage: 'raw' | 'features';
  severity: Severity;
  value: number | null;
  threshold: string;
  passed: boolean;
  detail?: string;
}

export interface QualityReport {
  score: number;
  grade: 'A' | 'B' | 'C' | 'D' | 'F';
  /** False when a critical check failed, or a high one without allowHigh: nothing is loaded. */
  passed: boolean;
  criticalFailures: string[];
  /** Failed high checks: they block the load unless allowHigh. (Absent in reports of runs before the four levels.) */
  highFailures?: string[];
  mediumFailures?: string[];
  lowFailures?: string[];
  allowHigh?: boolean;
  checks: QualityCheck[];
}

/** Why the gate stopped a run, for the failure's message. */
export function gateFailureMessage(report: QualityReport): string {
  const blocking = [
    report.criticalFailures.length ? `critical check(s) ${report.criticalFailures.join(', ')}` : '',
    report.highFailures?.length && !report.allowHigh ? `high check(s) ${report.highFailures.join(', ')} (input allowHigh lets these through)` : '',
  ].filter(Boolean).join('; ');
  return `quality gate failed (grade ${report.grade}, score ${report.score}): ${blocking}; nothing was loaded`;
}

export interface CrmFeaturesResult {
  pipeline: 'crmFeatures';
  validateOnly: boolean;
  loadStrategy: LoadStrategy;
  recordsExtracted: number;
  bySource: Record<string, number>;
  recordsQuarantined: number;
  recordsCleaned: number;
  usersTransformed: number;
  recordsLoaded: number;
  /** Optional columns (game_type, channel) that no source had, with the features that came out NULL without them. */
  featuresUnavailable: Array<{ column: string; features: string[] }>;
  backupTable: string | null;
  backupsDropped: string[];
  /** With restoreBackup: the backup put back and how many rows it held. */
  restoredFrom?: string;
  recordsRestored?: number;
  quality: QualityReport | null;
  qualityScore: number | null;
  /** Clean rows / extracted rows. */
  successRate: number;
  steps: StepMetric[];
  /** How the run computed: `incremental` (only changed users recomputed) or `full`. Absent before the incremental mode. */
  mode?: 'full' | 'incremental';
  /** Incremental mode: why everything was recomputed instead (first run, formulas changed, rows deleted ...). */
  fullReason?: string;
  /** Users whose features were recomputed from their transactions (the rest were refreshed from stored aggregates). */
  usersRecomputed?: number;
}

export interface CrmFeaturesProgress {
  step: string;
  steps: StepMetric[];
}

/** Grade from score: A >= 0.9, B >= 0.8, C >= 0.7, D >= 0.6, else F. */
export function gradeFor(score: number): QualityReport['grade'] {
  return score >= 0.9 ? 'A' : score >= 0.8 ? 'B' : score >= 0.7 ? 'C' : score >= 0.6 ? 'D' : 'F';
}
