import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createSyncActivities } from '../activities/load/sync';
import { createPool } from '../lib/db';
import { migrate } from '../lib/migrate';
import { findPipeline } from '../lib/pipelines';
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

/** One worker per pipeline task queue, with the activities bound to the configured databases. */
export async function startWorkers(settings: Settings, options: WorkerStartOptions = {}): Promise<RunningWorkers> {
  const target = createPool(settings.postgres.databaseUrl, 6);
  const source = createPool(settings.postgres.sourceDatabaseUrl, 4);
  await migrate(target);
  const connection = await NativeConnection.connect(temporalConnectionOptions(settings));
  const code = options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: require.resolve('../workflows') };
  const sync = await Worker.create({
    connection,
    namespace: settings.temporal.namespace,
    taskQueue: options.taskQueue ?? findPipeline('incremental-sync').taskQueue,
    ...code,
    activities: createSyncActivities({ source, target, sourceUrl: settings.postgres.sourceDatabaseUrl }),
    // Each sync holds two connections while it copies; a few at once is plenty on one machine.
    maxConcurrentActivityTaskExecutions: 4,
    ...options.tuning,
  });
  const workers = [sync];
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
