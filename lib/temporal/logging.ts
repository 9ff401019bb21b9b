import { once } from 'node:events';
import path from 'node:path';
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import pino from 'pino';
import pinoRoll from 'pino-roll';

// Every line goes to stdout; openLogFile adds a rotating file beside it. The logger's level decides what is written.
const destinations = pino.multistream([{ level: 'trace', stream: pino.destination(1) }]);

/**
 * Values from rows (a customer's name, CPF, phone, e-mail) that failure messages may quote, hidden before a log line
 * is written: quoted literals, Postgres's `(column)=(value)` details, e-mail addresses and long digit runs. Types,
 * codes, ids and counts stay; the encrypted workflow history keeps the full message for people with the key.
 */
export function scrubText(text: string): string {
  return text
    .replace(/\)=\((?:[^()]|\([^()]*\))*\)/g, ')=([redacted])')
    .replace(/"(?:[^"\\\n]|\\.){1,300}"/g, (quoted) => (/^"[A-Za-z_][A-Za-z0-9_.]*"$/.test(quoted) ? quoted : '"[redacted]"'))
    .replace(/'(?:[^'\n]|''){1,300}'/g, "'[redacted]'")
    .replace(/[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g, '[redacted e-mail]')
    .replace(/\+?\d[\d.\-/ ]{7,}\d/g, (digits) => (/^\d{4}-\d{2}-\d{2}$/.test(digits) ? digits : '[redacted number]'));
}

const scrubError = (error: unknown) => {
  const serialized = pino.stdSerializers.err(error as Error) as unknown as Record<string, unknown>;
  for (const key of ['message', 'stack']) if (typeof serialized[key] === 'string') serialized[key] = scrubText(serialized[key] as string);
  return serialized;
};

/** One JSON object a line (on stdout and the log file unless given a destination), row values scrubbed from messages and errors. */
export const createLogger = (destination?: pino.DestinationStream): pino.Logger => pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: undefined,
  timestamp: pino.stdTimeFunctions.isoTime,
  serializers: { error: scrubError, err: scrubError, failure: scrubError },
  // Fields that carry rows or activity arguments/results are never written, whatever logs them.
  redact: { paths: ['row', 'rows', 'row_data', 'values', 'details', 'args', 'result', '*.row', '*.row_data', '*.details'], censor: '[redacted]' },
  hooks: { logMethod(args, method) {
    method.apply(this, args.map((arg) => (typeof arg === 'string' ? scrubText(arg) : arg)) as Parameters<typeof method>);
  } },
}, destination ?? destinations);

/** The workers' and commands' logger; Temporal's worker logs (with workflow and activity ids) go through it too. */
export const logger = createLogger();

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
