import { bundleWorkflowCode, NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createCrmActivities } from '../activities/crm-features';
import { createMailingActivities } from '../activities/mailing-campaigns';
import { createMarketingActivities } from '../activities/marketing-enrichment';
import { createSyncActivities } from '../activities/incremental-sync';
import { createSalesActivities } from '../activities/sales-warehouse';
import { createPool } from '../lib/io/postgres';
import { migrate } from '../lib/io/migrate';
import { createS3Client } from '../lib/io/s3';
import { geminiTaskQueue } from '../lib/contracts/marketing-enrichment';
import { findPipeline } from '../lib/pipelines';
import type { Settings } from '../lib/config/settings';
import { dataConverter, temporalConnectionOptions } from '../lib/temporal/connection';

export interface RunningWorkers {
  workers: Worker[];
  /** Resolves when every worker has stopped (after `shutdown`), rejects when one fails. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

export interface WorkerStartOptions {
  /** A workflow bundle made once (tests); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Another task queue than the pipeline's own (tests run side by side). */
  taskQueue?: string;
  /** Extra worker options (tests shorten shutdown grace). */
  tuning?: Partial<WorkerOptions>;
}

/** What each pipeline's worker runs: its activities and how many at once. */
interface PipelineWorker {
  pipeline: string;
  activities: object;
  maxConcurrentActivityTaskExecutions: number;
}

/**
 * One worker per pipeline task queue, with the activities bound to the configured databases. With a `taskQueue`
 * override (tests) every pipeline shares that queue, served by one worker holding all the activities. Plus the
 * Gemini request queue next to marketing-enrichment's, rate limited by GEMINI_RPM.
 */
export async function startWorkers(settings: Settings, options: WorkerStartOptions = {}): Promise<RunningWorkers> {
  const target = createPool(settings.postgres.databaseUrl, 6);
  const source = createPool(settings.postgres.sourceDatabaseUrl, 4);
  // A delivery holds one source connection (its COPY) and one target connection (its lock and journal) throughout.
  const mailingSource = createPool(settings.postgres.sourceDatabaseUrl, 8);
  const mailingTarget = createPool(settings.postgres.databaseUrl, 8);
  await migrate(target);
  const connection = await NativeConnection.connect(temporalConnectionOptions(settings));
  const converter = { dataConverter: dataConverter(settings) };
  // One bundle for every task queue: bundling per worker cost one webpack build per queue at every start.
  const code = { workflowBundle: options.workflowBundle ?? await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'), failureConverterPath: converter.dataConverter?.failureConverterPath,
  }) };
  const crmSource = createPool(settings.postgres.sourceDatabaseUrl, 2);
  const crmS3 = createS3Client(settings.s3);
  const marketing = createMarketingActivities({ target, settings });
  // Sources extract in parallel, each holding a target connection for its COPY (plus the database source's own).
  const salesTarget = createPool(settings.postgres.databaseUrl, 6);
  const salesSource = createPool(settings.postgres.sourceDatabaseUrl, 2);
  const pipelineWorkers: PipelineWorker[] = [
    {
      // crmFeatures and its streaming mode crmFeaturesStream (same queue, same activities).
      pipeline: 'crm-features',
      activities: createCrmActivities({ target, source: crmSource, s3: crmS3, bucket: settings.s3.bucket }),
      // Each step is one big set-based statement or a COPY; two runs at once keep a small machine responsive.
      maxConcurrentActivityTaskExecutions: 2,
    },
    {
      pipeline: 'sales-warehouse',
      activities: createSalesActivities({ target: salesTarget, source: salesSource, s3: crmS3, bucket: settings.s3.bucket }),
      // A run's sources extract at once (one activity each); the later steps are one big statement each.
      maxConcurrentActivityTaskExecutions: 4,
    },
    {
      pipeline: 'incremental-sync',
      activities: createSyncActivities({ source, target, sourceUrl: settings.postgres.sourceDatabaseUrl }),
      // Each sync holds two connections while it copies; a few at once is plenty on one machine.
      maxConcurrentActivityTaskExecutions: 4,
    },
    {
      pipeline: 'mailing-campaigns',
      activities: createMailingActivities({ source: mailingSource, target: mailingTarget, sftp: settings.sftp,
        campaignsDir: settings.mailing.campaignsDir, timeZone: settings.timezone }),
      // Each delivery holds a source connection, a target connection and an SFTP session; a run's `parallelism`
      // (default 4) decides how many it asks for, up to 8 here.
      maxConcurrentActivityTaskExecutions: 8,
    },
    {
      pipeline: 'marketing-enrichment',
      activities: marketing,
      maxConcurrentActivityTaskExecutions: 4,
    },
  ];
  const byQueue = new Map<string, PipelineWorker[]>();
  for (const w of pipelineWorkers) {
    const queue = options.taskQueue ?? findPipeline(w.pipeline).taskQueue;
    byQueue.set(queue, [...(byQueue.get(queue) ?? []), w]);
  }
  const workers = await Promise.all([...byQueue].map(([taskQueue, group]) => Worker.create({
    connection,
    namespace: settings.temporal.namespace,
    taskQueue,
    ...code,
    ...converter,
    activities: Object.assign({}, ...group.map((w) => w.activities)),
    maxConcurrentActivityTaskExecutions: group.reduce((sum, w) => sum + w.maxConcurrentActivityTaskExecutions, 0),
    ...options.tuning,
  })));
  // Gemini requests have a queue of their own: Temporal holds it to GEMINI_RPM across every worker.
  const marketingQueue = options.taskQueue ?? findPipeline('marketing-enrichment').taskQueue;
  workers.push(await Worker.create({
    connection,
    namespace: settings.temporal.namespace,
    taskQueue: geminiTaskQueue(marketingQueue),
    ...converter,
    // Only the model requests are scheduled there.
    activities: { enrichBatch: marketing.enrichBatch },
    maxConcurrentActivityTaskExecutions: 16,
    maxTaskQueueActivitiesPerSecond: settings.gemini.requestsPerMinute / 60,
    ...options.tuning,
  }));
  const done = Promise.all(workers.map((w) => w.run())).then(async () => {
    await connection.close();
    crmS3.destroy();
    await Promise.all([target.end(), source.end(), mailingSource.end(), mailingTarget.end(), crmSource.end(), salesTarget.end(), salesSource.end()]);
  });
  return {
    workers,
    done,
    async shutdown() {
      for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
