import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createMarketingActivities } from '../activities/enrich';
import { createSyncActivities } from '../activities/load/sync';
import { createPool } from '../lib/db';
import { migrate } from '../lib/migrate';
import { geminiTaskQueue } from '../lib/marketing-enrichment';
import { findPipeline, pipelines } from '../lib/pipelines';
import type { Settings } from '../lib/settings';
import { temporalConnectionOptions } from '../lib/temporal';

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

/**
 * One worker per pipeline task queue (every worker can run every pipeline's code, so a test can put them all
 * on one queue), plus the Gemini request queue, whose rate limit (GEMINI_RPM) Temporal enforces across workers.
 */
export async function startWorkers(settings: Settings, options: WorkerStartOptions = {}): Promise<RunningWorkers> {
  const target = createPool(settings.postgres.databaseUrl, 6);
  const source = createPool(settings.postgres.sourceDatabaseUrl, 4);
  await migrate(target);
  const connection = await NativeConnection.connect(temporalConnectionOptions(settings));
  const code = options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: require.resolve('../workflows') };
  const activities = {
    ...createSyncActivities({ source, target, sourceUrl: settings.postgres.sourceDatabaseUrl }),
    ...createMarketingActivities({ target, settings }),
  };
  const base = { connection, namespace: settings.temporal.namespace, activities };
  const queues = options.taskQueue ? [options.taskQueue] : [...new Set(pipelines.map((p) => p.taskQueue))];
  const workers = await Promise.all(queues.map((taskQueue) => Worker.create({
    ...base,
    taskQueue,
    ...code,
    // A sync holds two connections while it copies; a few activities at once is plenty on one machine.
    maxConcurrentActivityTaskExecutions: 4,
    ...options.tuning,
  })));
  const marketingQueue = options.taskQueue ?? findPipeline('marketing-enrichment').taskQueue;
  workers.push(await Worker.create({
    ...base,
    taskQueue: geminiTaskQueue(marketingQueue),
    maxConcurrentActivityTaskExecutions: 16,
    maxTaskQueueActivitiesPerSecond: settings.gemini.requestsPerMinute / 60,
    ...options.tuning,
  }));
  const done = Promise.all(workers.map((w) => w.run())).then(async () => {
    await connection.close();
    await Promise.all([target.end(), source.end()]);
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
