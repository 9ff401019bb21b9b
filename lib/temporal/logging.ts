import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import pino from 'pino';

/** One JSON object a line on stdout; Temporal's worker logs (with workflow and activity ids) go through it too. */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: undefined,
  timestamp: pino.stdTimeFunctions.isoTime,
  serializers: { error: pino.stdSerializers.err },
});

/** The workflow bundler's webpack log is not the user's to act on: only its warnings and errors are printed. */
export const quietBundlerLogger = {
  log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined,
  warn: (message: string) => console.warn(message), error: (message: string) => console.error(message),
};

let installed = false;

/**
 * SDK warnings that describe our design, not a problem a person can act on: the throttled queues (Gemini requests)
 * are served by activity-only workers on purpose.
 */
const expectedWarnings = [/^No workflows registered, not polling for workflow tasks/];

/**
 * Sends the SDK's logs (workflow and activity logs carry workflowId, runId, activityType...) and the native
 * core's own through one JSON logger, and, given an address, serves the workers' metrics for Prometheus.
 */
export function installWorkerLogging(level: LogLevel = 'INFO', options: { metricsAddress?: string; forwardCoreLogs?: boolean } = {}): void {
  if (installed) return;
  installed = true;
  const metricsAddress = options.metricsAddress && options.metricsAddress !== 'off' ? options.metricsAddress : undefined;
  Runtime.install({
    // Our commands decide what Ctrl-C stops, and in which order.
    shutdownSignals: [],
    logger: new DefaultLogger(level, ({ level: entryLevel, message, meta }) => {
      if (entryLevel === 'WARN' && expectedWarnings.some((pattern) => pattern.test(message))) return;
      const method = entryLevel === 'TRACE' ? 'trace' : entryLevel === 'DEBUG' ? 'debug' : entryLevel === 'WARN' ? 'warn' : entryLevel === 'ERROR' ? 'error' : 'info';
      logger[method](meta ?? {}, message);
    }),
    telemetryOptions: {
      logging: {
        filter: { core: level === 'INFO' || level === 'DEBUG' || level === 'TRACE' ? 'WARN' : level, other: 'ERROR' },
        // Forwarding keeps a poller alive: only for the long-running worker commands, which stop the runtime themselves.
        ...(options.forwardCoreLogs ? { forward: {} } : {}),
      },
      ...(metricsAddress ? { metrics: { prometheus: { bindAddress: metricsAddress, countersTotalSuffix: true } } } : {}),
    },
  });
}
