import { once } from 'node:events';
import path from 'node:path';
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import pino from 'pino';
import pinoRoll from 'pino-roll';

// Every line goes to stdout; openLogFile adds a rotating file beside it. The logger's level decides what is written.
const destinations = pino.multistream([{ level: 'trace', stream: pino.destination(1) }]);

/** One JSON object a line on stdout; Temporal's worker logs (with workflow and activity ids) go through it too. */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: undefined,
  timestamp: pino.stdTimeFunctions.isoTime,
  serializers: { error: pino.stdSerializers.err },
}, destinations);

export interface LogFileOptions {
  /** ETL_LOG_FILE: e.g. /var/log/etl/etl.log -> /var/log/etl/etl.2026-03-16.1.log, a new file each day. */
  file: string;
  /** ETL_LOG_KEEP_DAYS (>= 2): at each daily roll, the new day's file and the keepDays - 1 newest before it are kept. */
  keepDays: number;
}

/**
 * Also writes every log line to a file that rolls daily (pino-roll: one file per local day, older files beyond
 * `keepDays` deleted at each roll, including those of earlier processes), for hosts without a log collector.
 * Returns the file's stream (closed by `closeLogFile`).
 */
export async function openLogFile(options: LogFileOptions) {
  const stream = await pinoRoll({
    file: path.resolve(options.file), frequency: 'daily', dateFormat: 'yyyy-MM-dd', mkdir: true,
    // count: files kept besides the active one; removeOtherLogFiles: also those of earlier processes (a restarted worker).
    limit: { count: options.keepDays - 1, removeOtherLogFiles: true },
  });
  // Opened before the first line is logged, so a folder that cannot be written fails the command at once.
  if ((stream as unknown as { fd: number }).fd < 0) await once(stream, 'ready');
  destinations.add({ level: 'trace', stream });
  return stream;
}

/** The log file the configuration asks for, if any (`ETL_LOG_FILE`, `ETL_LOG_KEEP_DAYS`). */
export async function openConfiguredLogFile(config: { ETL_LOG_FILE?: string; ETL_LOG_KEEP_DAYS: number }): Promise<void> {
  if (config.ETL_LOG_FILE) await openLogFile({ file: config.ETL_LOG_FILE, keepDays: config.ETL_LOG_KEEP_DAYS });
}

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
