// The registry: every pipeline this product runs, in one place. Workers, schedules, the CLI, the demo and the
// replay loop over it; adding a pipeline is one name in each folder (workflows/, activities/, schedules/, sql/,
// docs/pipelines/, test/) and one entry here. Its workflow is also re-exported by workflows/index.ts, which the
// bundler reads (the sandbox cannot import this file: it loads the activities, below).
import { crmFeaturesSchedule } from '../schedules/crm-features';
import { incrementalSyncSchedule } from '../schedules/incremental-sync';
import { mailingCampaignsSchedule } from '../schedules/mailing-campaigns';
import { marketingEnrichmentSchedule } from '../schedules/marketing-enrichment';
import type { PipelineScheduleSpec } from '../schedules/pipeline-schedule';
import { salesWarehouseSchedule } from '../schedules/sales-warehouse';
import type { EtlConfig } from './config/env';
import type { Settings } from './config/settings';
import { geminiTaskQueue } from './contracts/marketing-enrichment';
import type { WorkerResources } from './io/resources';

// Each pipeline's activities are loaded when a worker binds them, not when the registry is read: the CLI and the
// schedules read it without loading every pipeline's activities and their libraries (a CLI command started in 2-4 s,
// most of it loading modules it did not use). require, not import(): the CLI runs as CommonJS through tsx, which does
// not hook import().
/* eslint-disable @typescript-eslint/no-require-imports */
const syncActivities = () => require('../activities/incremental-sync') as typeof import('../activities/incremental-sync');
const mailingActivities = () => require('../activities/mailing-campaigns') as typeof import('../activities/mailing-campaigns');
const marketingActivities = () => require('../activities/marketing-enrichment') as typeof import('../activities/marketing-enrichment');
const crmActivities = () => require('../activities/crm-features') as typeof import('../activities/crm-features');
const salesActivities = () => require('../activities/sales-warehouse') as typeof import('../activities/sales-warehouse');
/* eslint-enable @typescript-eslint/no-require-imports */

export interface PipelineInfo {
  /** The kebab-case name the CLI takes, and the name of the pipeline's file or folder in every top-level folder. */
  name: string;
  workflowType: string;
  /** Other workflows of the pipeline, served on the same task queue (crmFeatures' streaming mode). */
  otherWorkflowTypes?: string[];
  taskQueue: string;
  description: string;
  /** Its activities, bound to the worker's resources. */
  activities(resources: WorkerResources): object;
  /** How many of its activities one worker runs at once. */
  maxConcurrentActivities: number;
  /** A queue of its own for some activities, throttled across every worker (marketing's Gemini requests). */
  throttledQueue?: {
    taskQueue(pipelineQueue: string): string;
    activities: string[];
    maxConcurrentActivities: number;
    maxActivitiesPerSecond(settings: Settings): number;
  };
  schedule(config: EtlConfig): PipelineScheduleSpec;
  /** Its dates are the business's local time: runs started by the CLI, the demo and the schedules get ETL_TIMEZONE. */
  takesTimeZone?: boolean;
}

export const pipelines: PipelineInfo[] = [
  {
    name: 'incremental-sync',
    workflowType: 'incrementalSync',
    taskQueue: 'etl-incremental-sync',
    description: 'remote Postgres table -> local Postgres by updated_at watermark, batch UPSERT, etl_control',
    activities: (r) => syncActivities().createSyncActivities({ source: r.postgres('source', 4), target: r.postgres('target', 4),
      sourceUrl: r.settings.postgres.sourceDatabaseUrl }),
    // Each sync holds two connections while it copies; a few at once is plenty on one machine.
    maxConcurrentActivities: 4,
    schedule: incrementalSyncSchedule,
  },
  {
    name: 'mailing-campaigns',
    workflowType: 'mailingCampaigns',
    taskQueue: 'etl-mailing-campaigns',
    description: 'hourly, per campaign: SQL on Postgres -> CSV in the dialer\'s layout -> the campaign\'s SFTP folder, atomically, once',
    // A delivery holds one source connection (its COPY) and one target connection (its lock and journal) throughout.
    activities: (r) => mailingActivities().createMailingActivities({ source: r.postgres('source', 8), target: r.postgres('target', 8), sftp: r.settings.sftp,
      campaignsDir: r.settings.mailing.campaignsDir, timeZone: r.settings.timezone }),
    // Each delivery holds a source connection, a target connection and an SFTP session; a run's `parallelism`
    // (default 4) decides how many it asks for, up to 8 here.
    maxConcurrentActivities: 8,
    schedule: mailingCampaignsSchedule,
  },
  {
    name: 'marketing-enrichment',
    workflowType: 'marketingEnrichment',
    taskQueue: 'etl-marketing-enrichment',
    description: 'customers file -> Gemini writes a short pt-BR message per customer -> marketing_messages in Postgres -> XLSX and ; CSV',
    activities: (r) => marketingActivities().createMarketingActivities({ target: r.postgres('target', 6), settings: r.settings }),
    maxConcurrentActivities: 4,
    // Gemini requests have a queue of their own: Temporal holds it to GEMINI_RPM across every worker.
    throttledQueue: {
      taskQueue: geminiTaskQueue,
      activities: ['enrichBatch'],
      maxConcurrentActivities: 16,
      maxActivitiesPerSecond: (settings) => settings.gemini.requestsPerMinute / 60,
    },
    schedule: marketingEnrichmentSchedule,
  },
  {
    name: 'crm-features',
    workflowType: 'crmFeatures',
    otherWorkflowTypes: ['crmFeaturesStream'],
    taskQueue: 'etl-crm-features',
    description: 'S3 lake (Parquet, CSV, JSON) + tbl_transactions -> clean -> per-user ML features -> 11 quality checks, A-F -> ml_features.user_features with backup',
    activities: (r) => crmActivities().createCrmActivities({ target: r.postgres('target', 4), source: r.postgres('source', 2), s3: r.s3,
      bucket: r.settings.s3.bucket }),
    // Each step is one big set-based statement or a COPY; two runs at once keep a small machine responsive.
    maxConcurrentActivities: 2,
    schedule: crmFeaturesSchedule,
    takesTimeZone: true,
  },
  {
    name: 'sales-warehouse',
    workflowType: 'salesWarehouse',
    // The event trigger: a long-running watcher of a lake prefix that starts salesWarehouse for each new file.
    otherWorkflowTypes: ['salesLakeWatcher'],
    taskQueue: 'etl-sales-warehouse',
    description: 'REST APIs + CSV/XLSX files + databases -> raw copy in S3 -> clean, quality gate -> sales_dw star schema (monthly partitions) -> KPI views',
    // Sources extract in parallel, each holding a target connection for its COPY (plus the database source's own).
    activities: (r) => salesActivities().createSalesActivities({ target: r.postgres('target', 6), source: r.postgres('source', 2), s3: r.s3,
      bucket: r.settings.s3.bucket, secret: r.secret }),
    // A run's sources extract at once (one activity each); the later steps are one big statement each.
    maxConcurrentActivities: 4,
    schedule: salesWarehouseSchedule,
    takesTimeZone: true,
  },
];

export function findPipeline(name: string): PipelineInfo {
  const found = pipelines.find((p) => p.name === name || p.workflowType === name || p.otherWorkflowTypes?.includes(name));
  if (!found) throw new Error(`unknown pipeline "${name}"; known pipelines: ${pipelines.map((p) => p.name).join(', ')}`);
  return found;
}

/** Every workflow type the pipelines run, the streaming mode included. */
export const allWorkflowTypes = (): string[] => pipelines.flatMap((p) => [p.workflowType, ...(p.otherWorkflowTypes ?? [])]);

/**
 * A run's input as the CLI, the demo and the schedules start it: what the configuration supplies (ETL_TIMEZONE for
 * pipelines that read the local clock) under what the person gave. Input that is not an object is left for the
 * workflow to reject.
 */
export function inputWithConfiguration(pipeline: PipelineInfo, config: EtlConfig, input: unknown = {}): unknown {
  if (!pipeline.takesTimeZone || typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  return { timeZone: config.ETL_TIMEZONE, ...input };
}
