// crmFeatures: its input (with defaults and thresholds), result and progress. Shared by the workflow and the activities.
import { z } from 'zod';
import { timeZoneSchema } from '../workflow/zoned-time';
import { stagingTable } from './run';
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

export const crmFeaturesInputSchema = z.object({
  /** Source table on the source database (read-only user). */
  sourceTable: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).default('tbl_transactions'),
  /** Lake prefix: `s3://bucket/prefix/` or `s3:prefix/` (the configured bucket); every .parquet, .csv and .json/.jsonl below it is read. */
  lakePrefix: z.string().default('s3:lake/transactions/'),
  loadStrategy: z.enum(LOAD_STRATEGIES).default('merge'),
  validateOnly: z.boolean().default(false),
  /** ticket_medio (average bet) cut-offs in BRL: below `medio` is baixo, below `alto` is medio, else alto. */
  ticketCutoffs: z.object({ medio: z.number().positive().default(50), alto: z.number().positive().default(200) }).strict().default({ medio: 50, alto: 200 }),
  thresholds: thresholdsSchema.default(thresholdsSchema.parse({})),
  backupRetentionDays: z.number().int().min(0).default(30),
  /** "Now" for recency and freshness (ISO timestamp, local time of the data); default: the workflow's start time. */
  asOf: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?/).optional(),
  /** The data's local time zone: "now" (asOf's default) is read on its clock. */
  timeZone: timeZoneSchema,
  /**
   * Was a test hook; a new run that sets it is rejected. Still parsed so that runs recorded with it replay
   * (tests inject faults through the database now).
   */
  failAfterRows: z.number().int().positive().optional(),
}).strict();

export type CrmFeaturesInput = z.input<typeof crmFeaturesInputSchema>;
export type CrmFeaturesOptions = z.output<typeof crmFeaturesInputSchema>;
export type LoadStrategy = (typeof LOAD_STRATEGIES)[number];


/** Staging tables of one run (schema etl_staging), named after the run. */
export function stagingTables(runId: string) {
  return { raw: stagingTable('crm', 'raw', runId), clean: stagingTable('crm', 'clean', runId), features: stagingTable('crm', 'features', runId) };
}

export interface StepMetric {
  step: string;
  rows: number;
  durationMs: number;
}

export type Severity = 'critical' | 'warning';

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
  passed: boolean;
  criticalFailures: string[];
  checks: QualityCheck[];
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
  backupTable: string | null;
  backupsDropped: string[];
  quality: QualityReport | null;
  qualityScore: number | null;
  /** Clean rows / extracted rows. */
  successRate: number;
  steps: StepMetric[];
}

export interface CrmFeaturesProgress {
  step: string;
  steps: StepMetric[];
}

/** Grade from score: A >= 0.9, B >= 0.8, C >= 0.7, D >= 0.6, else F. */
export function gradeFor(score: number): QualityReport['grade'] {
  return score >= 0.9 ? 'A' : score >= 0.8 ? 'B' : score >= 0.7 ? 'C' : score >= 0.6 ? 'D' : 'F';
}
