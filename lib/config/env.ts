import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** The project's root folder: where package.json lives, whatever the current directory is. */
export const projectRoot = path.resolve(__dirname, '..', '..');

const port = z.coerce.number().int().min(1).max(65535);
const postgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// URL, e.g. postgres://user:pass@host:5432/db');
const optionalText = z.string().min(1).optional();

export const CODEC_KEY_ID = /^[A-Za-z0-9._-]+$/;

/** What is wrong with an `id:base64key,...` list, or undefined when every entry is a usable AES-256 key. */
export function codecKeysProblem(value: string): string | undefined {
  const entries = value.split(',').map((entry) => entry.trim()).filter(Boolean);
  if (entries.length === 0) return 'must list at least one id:base64key';
  const seen = new Set<string>();
  for (const entry of entries) {
    const [id, key, ...rest] = entry.split(':');
    if (!id || key === undefined || rest.length > 0 || !CODEC_KEY_ID.test(id)) {
      return `entry "${entry.slice(0, 20)}..." must be id:base64key, e.g. 2026-11:$(openssl rand -base64 32)`;
    }
    if (seen.has(id)) return `key id "${id}" is listed twice`;
    seen.add(id);
    if (Buffer.from(key, 'base64').length !== 32) return `key "${id}" must be 32 bytes in base64 (openssl rand -base64 32)`;
  }
  return undefined;
}

/** The validated list as a map from key id to key bytes. */
export function parseCodecKeys(value: string): Map<string, Buffer> {
  return new Map(value.split(',').map((entry) => entry.trim()).filter(Boolean).map((entry) => {
    const [id, key] = entry.split(':');
    return [id, Buffer.from(key, 'base64')];
  }));
}

const envSchema = z.object({
  ETL_DATA_DIR: z.string().default(path.join(projectRoot, '.data')),
  /** The root every local file a pipeline writes from an input lands under (marketing's exports); default <ETL_DATA_DIR>/exports. */
  ETL_EXPORT_DIR: optionalText,
  DATABASE_URL: postgresUrl.optional(),
  SOURCE_DATABASE_URL: postgresUrl.optional(),
  SOURCE_ADMIN_DATABASE_URL: postgresUrl.optional(),
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:/]+:\d+$/, 'must be host:port, e.g. localhost:7233')
    .optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).optional(),
  TEMPORAL_CLI: optionalText,
  TEMPORAL_PROFILE: optionalText,
  TEMPORAL_CONFIG_FILE: optionalText,
  TEMPORAL_WEB_UI: z.string().url('must be the Web UI URL, e.g. http://localhost:8080').optional(),
  ETL_TEMPORAL_PORT: port.default(7233),
  ETL_TEMPORAL_UI_PORT: port.default(8233),
  ETL_POSTGRES_PORT: port.default(54329),
  ETL_S3_PORT: port.default(9900),
  ETL_SFTP_PORT: port.default(2222),
  S3_ENDPOINT: z.string().url('must be a URL, e.g. http://127.0.0.1:9000').optional(),
  S3_BUCKET: z.string().min(3).default('etl-lake'),
  S3_REGION: z.string().default('us-east-1'),
  AWS_ACCESS_KEY_ID: optionalText,
  AWS_SECRET_ACCESS_KEY: optionalText,
  SFTP_HOST: optionalText,
  SFTP_PORT: port.default(22),
  SFTP_USER: optionalText,
  SFTP_PASSWORD: optionalText,
  SFTP_PRIVATE_KEY_FILE: optionalText,
  /** The SFTP server's host key ("ssh-ed25519 AAAA..." or "SHA256:..."): connections to any other key are refused. */
  SFTP_HOST_KEY: optionalText,
  MAILING_CAMPAIGNS_DIR: optionalText,
  MAILING_SCHEDULE_CRON: z
    .string()
    .regex(/^\S+ \S+ \S+ \S+ \S+$/, 'must be a 5-field cron expression, e.g. "0 8-20 * * 1-6"')
    .default('0 8-20 * * 1-6'),
  ETL_TIMEZONE: z.string().default('America/Sao_Paulo'),
  SYNC_SCHEDULE_CRON: z
    .string()
    .regex(/^\S+ \S+ \S+ \S+ \S+$/, 'must be a 5-field cron expression, e.g. "0 3 * * *"')
    .default('0 3 * * *'),
  /** Without a key the marketing pipeline runs its offline provider (template messages, no AI). */
  GEMINI_API_KEY: optionalText,
  /** Another endpoint for the Gemini REST API (a proxy, or the tests' local server). */
  GEMINI_BASE_URL: z.string().url('must be a URL, e.g. http://127.0.0.1:8089').optional(),
  /** Gemini requests per minute for the whole task queue; the default is the free tier's. */
  GEMINI_RPM: z.coerce.number().positive().max(100_000).default(15),
  /** salesWarehouse POSTs the anomalies found after a load here, as JSON (read by the worker when it checks). */
  ALERT_WEBHOOK_URL: z.string().url('must be a URL, e.g. https://hooks.example.com/sales-alerts').optional(),
  /** Where `etl worker` and `etl dev` serve Prometheus metrics (GET /metrics); `off` serves none. */
  ETL_METRICS_ADDRESS: z
    .string()
    .regex(/^(off|[^\s:/]+:\d+)$/, 'must be host:port, e.g. 127.0.0.1:9464, or off')
    .default('127.0.0.1:9464'),
  /** Payload encryption keys, `id:base64key` separated by commas; keys rotated out stay listed to decrypt old histories. */
  ETL_CODEC_KEYS: z.string().superRefine((value, ctx) => {
    const problem = codecKeysProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }).optional(),
  /** The key new payloads are encrypted with; default: the first of ETL_CODEC_KEYS. */
  ETL_CODEC_KEY_ID: z.string().regex(CODEC_KEY_ID, 'must be a key id of letters, digits, ".", "_" or "-"').optional(),
  /** A JSON file holding ETL_CODEC_KEYS and ETL_CODEC_KEY_ID (the embedded stack keeps its generated key in one). */
  ETL_CODEC_KEY_FILE: optionalText,
  /** Where the codec server listens (the embedded stack's, and `etl codec-server`'s default). */
  ETL_CODEC_PORT: port.default(8234),
  /** The codec server's URL as the Web UI reaches it, when it runs elsewhere than the embedded stack. */
  ETL_CODEC_SERVER_URL: z.string().url('must be a URL, e.g. http://127.0.0.1:8234').optional(),
  /** When set, the codec server answers only requests with `Authorization: Bearer <token>`. */
  ETL_CODEC_AUTH_TOKEN: optionalText,
  /** A workflow bundle built ahead (the worker image builds one): workers load it instead of bundling at start. */
  ETL_WORKFLOW_BUNDLE: optionalText,
  /** Activities one worker runs at once on each task queue; default: each pipeline's figure in lib/pipelines.ts. */
  ETL_WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).max(10_000).optional(),
  /** Workflow tasks one worker runs at once (the SDK's default, 40). */
  ETL_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: z.coerce.number().int().min(2).max(10_000).optional(),
  /** Workflows kept in one worker's sticky cache; 0 turns sticky execution off (the SDK's default grows with the heap). */
  ETL_WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).max(1_000_000).optional(),
  /** How long a workflow task waits for the worker that has the run cached before any worker takes it (the SDK's 10s). */
  ETL_WORKER_STICKY_TIMEOUT: z.string().regex(/^\d+(ms|s|m)$/, 'must be a duration such as 10s, 500ms or 1m').optional(),
  /** Activities per second one worker starts (unlimited by default). */
  ETL_WORKER_MAX_ACTIVITIES_PER_SECOND: z.coerce.number().positive().optional(),
  /** Activities per second per task queue, across every worker (Temporal enforces it; unlimited by default). */
  ETL_TASK_QUEUE_MAX_ACTIVITIES_PER_SECOND: z.coerce.number().positive().optional(),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
  /** Also write the logs to this file, rolled daily (etl.log -> etl.<yyyy-MM-dd>.1.log), for hosts without a log collector. */
  ETL_LOG_FILE: optionalText,
  /** With ETL_LOG_FILE: how many daily files are kept (today's included); older ones are deleted at each daily roll. */
  ETL_LOG_KEEP_DAYS: z.coerce.number().int().min(2).max(3650).default(30),
});

/** Every variable the settings schema reads. */
export const CONFIG_VARIABLES: string[] = Object.keys(envSchema.shape);

/** Never echoed in an error message. */
const SECRET_VARIABLES = new Set(['ETL_CODEC_KEYS', 'ETL_CODEC_AUTH_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'SFTP_PASSWORD', 'GEMINI_API_KEY']);

export type EtlConfig = z.infer<typeof envSchema>;

/** A configuration problem a person can fix; the CLI prints its message as one line, no stack trace. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads and validates the environment (and `.env` in the project root, when present). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): EtlConfig {
  const envFile = path.join(projectRoot, '.env');
  if (env === process.env && existsSync(envFile)) process.loadEnvFile(envFile);
  const blanksRemoved = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = envSchema.safeParse(blanksRemoved);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      const shown = SECRET_VARIABLES.has(name) ? '(value hidden)' : JSON.stringify(env[name] ?? '');
      return `${name}=${shown}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration: ${problems.join('; ')} (see .env.example)`);
  }
  if (Boolean(parsed.data.DATABASE_URL) !== Boolean(parsed.data.SOURCE_DATABASE_URL)) {
    throw new ConfigError(
      'invalid configuration: set both DATABASE_URL and SOURCE_DATABASE_URL, or neither to use the embedded Postgres',
    );
  }
  const { ETL_CODEC_KEYS: keys, ETL_CODEC_KEY_ID: keyId } = parsed.data;
  if (keyId && !keys && !parsed.data.ETL_CODEC_KEY_FILE) {
    throw new ConfigError('invalid configuration: ETL_CODEC_KEY_ID is set but ETL_CODEC_KEYS is not; list the keys as id:base64key');
  }
  if (keyId && keys && !parseCodecKeys(keys).has(keyId)) {
    throw new ConfigError(`invalid configuration: ETL_CODEC_KEY_ID="${keyId}" is not one of the ids in ETL_CODEC_KEYS`);
  }
  return parsed.data;
}
