import { bundleWorkflowCode, NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { activityInterceptors } from '../lib/activity/interceptors';
import { createWorkerResources } from '../lib/io/resources';
import { ApplicationFailure, type Duration } from '@temporalio/common';
import { SHARED_FOLDER, migrateEach, type FolderMigration } from '../lib/io/migrate';
import { ErrorType } from '../lib/workflow/errors';
import { createPool } from '../lib/io/postgres';
import { pipelines } from '../lib/pipelines';
import type { Settings } from '../lib/config/settings';
import { dataConverter, temporalConnectionOptions } from '../lib/temporal/connection';
import { quietBundlerLogger } from '../lib/temporal/logging';

/**
 * A stop (SIGTERM, Ctrl-C) lets running activities finish for SHUTDOWN_GRACE, then cancels them (they close their
 * connections); a worker still busy SHUTDOWN_FORCE later gives up waiting, so a stop never hangs.
 */
export const SHUTDOWN_GRACE = '10s';
export const SHUTDOWN_FORCE = '20s';

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
 * One worker per pipeline task queue (from the registry), with the activities bound to resources built once for all
 * of them. With a `taskQueue` override (tests) every pipeline shares that queue, served by one worker holding all the
 * activities. Plus each throttled queue (marketing's Gemini requests) beside its pipeline's.
 */
export async function startWorkers(settings: Settings, options: WorkerStartOptions = {}): Promise<RunningWorkers> {
  const migrations = createPool(settings.postgres.databaseUrl, 1);
  const unavailable = migrationFailures(await migrateEach(migrations).finally(() => migrations.end()));
  for (const [name, why] of unavailable) {
    process.stderr.write(`pipeline ${name} is unavailable on this worker: ${why}; the other pipelines run\n`);
  }
  const resources = createWorkerResources(settings);
  const connection = await NativeConnection.connect(temporalConnectionOptions(settings));
  const converter = { dataConverter: dataConverter(settings) };
  // One bundle for every task queue: bundling per worker cost one webpack build per queue at every start.
  const prebuilt = settings.worker.workflowBundle ? { codePath: settings.worker.workflowBundle } : undefined;
  const code = { workflowBundle: options.workflowBundle ?? prebuilt ?? await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'), failureConverterPath: converter.dataConverter?.failureConverterPath,
    logger: quietBundlerLogger,
  }) };
  const bound = pipelines.map((pipeline) => {
    const activities = pipeline.activities(resources) as Record<string, unknown>;
    const why = unavailable.get(pipeline.name);
    return { pipeline, activities: why ? failingActivities(pipeline.name, activities, why) : activities };
  });
  const byQueue = new Map<string, typeof bound>();
  for (const entry of bound) {
    const queue = options.taskQueue ?? entry.pipeline.taskQueue;
    byQueue.set(queue, [...(byQueue.get(queue) ?? []), entry]);
  }
  const workers = await Promise.all([...byQueue].map(([taskQueue, group]) => Worker.create({
    connection,
    namespace: settings.temporal.namespace,
    taskQueue,
    ...code,
    ...converter,
    activities: Object.assign({}, ...group.map((entry) => entry.activities)),
    ...workerTuning(settings, group.reduce((sum, entry) => sum + entry.pipeline.maxConcurrentActivities, 0)),
    // A step's progress (rows, batches: its heartbeat details) reaches the server within 2 s, not the SDK's default of
    // 80 % of the heartbeat timeout, so that `etl run` and the Web UI show it live.
    maxHeartbeatThrottleInterval: '2 seconds',
    interceptors: { activity: activityInterceptors },
    shutdownGraceTime: SHUTDOWN_GRACE,
    shutdownForceTime: SHUTDOWN_FORCE,
    ...options.tuning,
  })));
  for (const { pipeline, activities } of bound) {
    const throttled = pipeline.throttledQueue;
    if (!throttled) continue;
    workers.push(await Worker.create({
      connection,
      namespace: settings.temporal.namespace,
      taskQueue: throttled.taskQueue(options.taskQueue ?? pipeline.taskQueue),
      ...converter,
      // Only these activities are scheduled there.
      activities: Object.fromEntries(throttled.activities.map((name) => [name, activities[name]])),
      maxConcurrentActivityTaskExecutions: throttled.maxConcurrentActivities,
      maxTaskQueueActivitiesPerSecond: throttled.maxActivitiesPerSecond(settings),
      interceptors: { activity: activityInterceptors },
      shutdownGraceTime: SHUTDOWN_GRACE,
      shutdownForceTime: SHUTDOWN_FORCE,
      ...options.tuning,
    }));
  }
  const done = Promise.all(workers.map((w) => w.run())).then(async () => {
    await connection.close();
    await resources.close();
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

/** Pipelines whose tables could not be migrated, with why: their own folder failed, or the shared one. */
export function migrationFailures(results: FolderMigration[]): Map<string, string> {
  const failures = new Map<string, string>();
  const shared = results.find((r) => r.folder === SHARED_FOLDER && r.error);
  for (const pipeline of pipelines) {
    const own = results.find((r) => r.folder === pipeline.name && r.error);
    const failed = shared ?? own;
    if (failed) failures.set(pipeline.name, `its database migration failed: ${failed.error}`);
  }
  return failures;
}

/**
 * The pipeline's activities, each failing at once with why: its runs fail loudly, naming the cause, instead of
 * writing to tables that are not there or not what the code expects.
 */
function failingActivities(pipeline: string, activities: Record<string, unknown>, why: string): Record<string, unknown> {
  return Object.fromEntries(Object.keys(activities).map((name) => [name, () => {
    throw ApplicationFailure.nonRetryable(`pipeline ${pipeline} cannot run: ${why}`, ErrorType.SchemaError);
  }]));
}

/**
 * The worker options that come from configuration (ETL_WORKER_*, ETL_TASK_QUEUE_*); what is unset keeps the
 * registry's figure (activities at once) or the SDK's default.
 */
export function workerTuning(settings: Settings, registryActivities: number): Partial<WorkerOptions> {
  const tuning = settings.worker;
  const options: Partial<WorkerOptions> = {
    maxConcurrentActivityTaskExecutions: tuning.maxConcurrentActivities ?? registryActivities,
  };
  if (tuning.maxConcurrentWorkflowTasks !== undefined) options.maxConcurrentWorkflowTaskExecutions = tuning.maxConcurrentWorkflowTasks;
  if (tuning.maxCachedWorkflows !== undefined) options.maxCachedWorkflows = tuning.maxCachedWorkflows;
  if (tuning.stickyQueueTimeout !== undefined) options.stickyQueueScheduleToStartTimeout = tuning.stickyQueueTimeout as Duration;
  if (tuning.maxActivitiesPerSecond !== undefined) options.maxActivitiesPerSecond = tuning.maxActivitiesPerSecond;
  if (tuning.taskQueueMaxActivitiesPerSecond !== undefined) options.maxTaskQueueActivitiesPerSecond = tuning.taskQueueMaxActivitiesPerSecond;
  return options;
}
