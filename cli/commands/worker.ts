import type { EtlConfig } from '../../lib/config/env';
import { installWorkerLogging, logger, openConfiguredLogFile } from '../../lib/temporal/logging';
import { pipelines } from '../../lib/pipelines';
import { resolveSettings } from '../../lib/config/settings';
import { SHUTDOWN_FORCE, SHUTDOWN_GRACE, startWorkers } from '../../workers';

/** Only the workers, against the configured Temporal and databases (production). Ctrl-C drains and stops. */
export async function worker(config: EtlConfig): Promise<number> {
  await openConfiguredLogFile(config);
  installWorkerLogging('INFO', { metricsAddress: config.ETL_METRICS_ADDRESS, forwardCoreLogs: true });
  const settings = resolveSettings(config);
  const running = await startWorkers(settings);
  logger.info({ address: settings.temporal.address, namespace: settings.temporal.namespace,
    taskQueues: pipelines.map((p) => p.taskQueue),
    metrics: config.ETL_METRICS_ADDRESS === 'off' ? 'off' : `http://${config.ETL_METRICS_ADDRESS}/metrics` }, 'workers running');
  const stop = (signal: NodeJS.Signals) => {
    logger.info({ signal, graceTime: SHUTDOWN_GRACE, forceTime: SHUTDOWN_FORCE }, 'stopping: draining the running activities');
    void running.shutdown().catch(() => undefined);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await running.done;
    logger.info('workers stopped');
    return 0;
  } catch (error) {
    // The force time ran out (an activity ignored its cancellation): its sockets may still hold the event loop.
    logger.error({ error }, 'workers did not drain in time; exiting');
    process.exit(1);
  }
}
