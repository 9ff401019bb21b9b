// crmFeaturesStream: its input, the batch signal, progress and result. Shared by the workflow and the activities.
import { z } from 'zod';
import { crmFeaturesInputSchema } from './crm-features';

/**
 * A batch is a reference, never rows: the S3 key of one Parquet, CSV or JSON-lines file of new transactions (same
 * columns as the lake). Payloads stay a few hundred bytes and free of personal data whatever the batch's size.
 */
export const batchSchema = z.object({
  /** Applied once: a batch id seen before (in this stream or any other) is ignored. */
  batchId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/, 'letters, digits and . _ : - (at most 100)'),
  /** `s3://bucket/key` or `s3:key` (the configured bucket). */
  key: z.string().regex(/^s3:/, 'an S3 location: s3://bucket/key or s3:key').max(1000),
}).strict();

export type BatchRef = z.infer<typeof batchSchema>;

const batchAppliedSchema = z.object({
  batchId: z.string(),
  /** True when this batch id had been applied before: nothing was changed. */
  duplicate: z.boolean(),
  rows: z.number().int(),
  quarantined: z.number().int(),
  users: z.number().int(),
}).strict();

export type BatchApplied = z.infer<typeof batchAppliedSchema>;

export const streamStateSchema = z.object({
  batchesApplied: z.number().int().min(0),
  batchesIgnored: z.number().int().min(0),
  batchesRejected: z.number().int().min(0),
  rowsApplied: z.number().int().min(0),
  rowsQuarantined: z.number().int().min(0),
  usersUpdated: z.number().int().min(0),
  runs: z.number().int().min(1),
  seeded: z.boolean(),
  /** Batches received but not applied yet when the run continued as new. */
  pending: z.array(batchSchema),
  lastBatch: batchAppliedSchema.nullable(),
  /** The last 10 signals that were not a valid batch. */
  rejected: z.array(z.object({ batchId: z.string().nullable(), error: z.string() })).max(10),
}).strict();

export type StreamState = z.infer<typeof streamStateSchema>;

export const crmStreamInputSchema = z.object({
  /** On the first run, every clean transaction of these sources is stored, so users are recomputed from all of theirs. */
  seedFromSources: z.boolean().default(true),
  sourceTable: crmFeaturesInputSchema.shape.sourceTable,
  lakePrefix: crmFeaturesInputSchema.shape.lakePrefix,
  ticketCutoffs: crmFeaturesInputSchema.shape.ticketCutoffs,
  /** "Now" for recency (ISO, local time of the data); default: the workflow's time when the batch is applied. */
  asOf: crmFeaturesInputSchema.shape.asOf,
  timeZone: crmFeaturesInputSchema.shape.timeZone,
  /** The run continues as new after this many batches (or sooner when Temporal suggests it), keeping its history short. */
  batchesPerRun: z.number().int().min(1).max(1000).default(100),
  /** Carried across continue-as-new; not for people to set. */
  state: streamStateSchema.optional(),
}).strict();

export type CrmStreamInput = z.input<typeof crmStreamInputSchema>;
export type CrmStreamOptions = z.output<typeof crmStreamInputSchema>;

export interface CrmStreamProgress extends Omit<StreamState, 'pending'> {
  step: 'seeding' | 'waiting' | 'applying' | 'stopping' | 'stopped';
  pending: number;
}

export type CrmStreamResult = CrmStreamProgress;

