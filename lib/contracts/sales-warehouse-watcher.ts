// salesLakeWatcher: the event trigger of salesWarehouse. Its input and what it reports; shared by the workflow, its
// activities, the CLI and the tests.
import { z } from 'zod';
import { salesWarehouseInputSchema } from './sales-warehouse';

/** A salesWarehouse input without sources (each run's source is its file), checked as salesWarehouse would check it. */
const runOptions = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
  if ('sources' in value) ctx.addIssue({ code: 'custom', message: 'must not hold sources: each run\'s source is the new file' });
  const parsed = salesWarehouseInputSchema.omit({ sources: true }).safeParse(value);
  for (const issue of parsed.success ? [] : parsed.error.issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
});

export const lakeWatcherInputSchema = z.object({
  /** The key prefix watched in the configured bucket, e.g. `sales/incoming/`; every .csv and .xlsx below it. */
  prefix: z.string().min(1).max(512).regex(/^[^\s]+\/$/, 'must be a key prefix ending in "/", e.g. sales/incoming/')
    .refine((p) => !p.startsWith('/') && !p.startsWith('s3:'), 'is a key prefix in the configured bucket, without s3: or a leading /')
    .refine((value) => !value.split(/[\\/]/).includes('..'), 'must not contain ".." segments'),
  /** Seconds between two listings. */
  pollSeconds: z.number().min(1).max(86_400).default(60),
  /** The dataset of the files (sales or leads). */
  dataset: z.enum(['sales', 'leads']).default('sales'),
  /** At most this many new files are started per listing (the rest wait for the next one). */
  maxFilesPerPoll: z.number().int().min(1).max(100).default(20),
  /** Listings per run before the watcher continues as new (its history stays short however long it runs). */
  pollsPerRun: z.number().int().min(1).max(1000).default(100),
  /** The rest of each run's input (strategy, thresholds, mappings...); its sources are the new file. */
  run: runOptions.default({}),
}).strict();

export type LakeWatcherInput = z.input<typeof lakeWatcherInputSchema>;
export type LakeWatcherOptions = z.output<typeof lakeWatcherInputSchema>;

export interface LakeFile {
  key: string;
  etag: string;
  size: number;
}

/** The run a file starts: its id is derived from the file's key and ETag, so a repeated start is refused, not doubled. */
export const lakeRunId = (file: LakeFile, hash: string): string =>
  `sales-lake-${file.key.replace(/[^A-Za-z0-9._-]+/g, '-').slice(-60)}-${hash.slice(0, 16)}`;

/** The watcher's own id for a prefix: one watcher per prefix. */
export const watcherId = (prefix: string): string => `sales-lake-watcher-${prefix.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/-+$/, '')}`;

export interface LakeWatcherProgress {
  step: string;
  polls: number;
  /** Files a run was started for, since the watcher started (over every continue-as-new). */
  filesStarted: number;
  lastPollAt?: string;
  lastFiles: { key: string; etag: string; workflowId: string; status: 'started' | 'already-started' }[];
}

export interface LakeWatcherResult {
  stopped: true;
  polls: number;
  filesStarted: number;
}
