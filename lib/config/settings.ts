import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadClientConfigProfile, type ClientConfigProfile } from '@temporalio/envconfig';
import type { CodecKeys } from '../temporal/codec';
import { CODEC_KEY_ID, ConfigError, codecKeysProblem, parseCodecKeys, projectRoot, type EtlConfig } from './env';
import { EMBEDDED_PASSWORD, EMBEDDED_USER, READER_PASSWORD, READER_USER, SOURCE_DATABASE, TARGET_DATABASE, embeddedUrl } from '../stack/postgres';
import { EMBEDDED_S3_KEY, EMBEDDED_S3_SECRET, EMBEDDED_SFTP_USER } from '../stack/storage';

/** The campaigns shipped with the repository; MAILING_CAMPAIGNS_DIR points elsewhere. */
export const DEFAULT_CAMPAIGNS_DIR = path.join(projectRoot, 'campaigns');

/** The variables that point at servers; without them every part runs embedded. */
export const SERVER_VARIABLES = ['TEMPORAL_PROFILE', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_WEB_UI', 'TEMPORAL_API_KEY', 'DATABASE_URL',
  'SOURCE_DATABASE_URL', 'SOURCE_ADMIN_DATABASE_URL', 'S3_ENDPOINT', 'SFTP_HOST', 'GEMINI_API_KEY', 'GEMINI_BASE_URL',
  'ETL_CODEC_KEY_FILE', 'ETL_CODEC_SERVER_URL'];

/**
 * The environment less every server variable, and with no Temporal profile file: what a test stack
 * of its own starts from, whatever the developer's shell or ~/.config/temporalio points at.
 */
export const withoutServerVariables = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(env).filter(([name]) => !SERVER_VARIABLES.includes(name) && !name.startsWith('TEMPORAL_TLS'))),
  TEMPORAL_CONFIG_FILE: '/nonexistent/etl-tests-use-no-temporal-profile.toml',
});

/** Where every server is: the configured one, or the embedded default on loopback. */
export interface Settings {
  temporal: {
    address: string;
    namespace: string;
    embedded: boolean;
    webUi?: string;
    /** Where the Temporal CLI's client profile is read from (TLS, API key, gRPC metadata). */
    profile: { name?: string; configFile?: string };
  };
  postgres: { databaseUrl: string; sourceDatabaseUrl: string; sourceAdminUrl: string; embedded: boolean };
  s3: { endpoint: string; bucket: string; region: string; accessKeyId: string; secretAccessKey: string; embedded: boolean };
  sftp: { host: string; port: number; user: string; privateKeyFile?: string; password?: string; hostKey?: string; embedded: boolean };
  gemini: { apiKey?: string; baseUrl?: string; requestsPerMinute: number };
  mailing: { campaignsDir: string };
  /** Payload encryption: without keys payloads are stored as they are. */
  codec: {
    keys?: CodecKeys;
    /** The key file the keys came from (not the keys themselves: other processes are pointed at the file). */
    keyFile?: string;
    /** Where the codec server listens, and the URL the Web UI reaches it at. */
    port: number;
    serverUrl?: string;
    authToken?: string;
  };
  /** Worker tuning; unset fields keep the registry's or the SDK's defaults (docs/configuration.md#worker-tuning). */
  worker: {
    workflowBundle?: string;
    maxConcurrentActivities?: number;
    maxConcurrentWorkflowTasks?: number;
    maxCachedWorkflows?: number;
    stickyQueueTimeout?: string;
    maxActivitiesPerSecond?: number;
    taskQueueMaxActivitiesPerSecond?: number;
  };
  dataDir: string;
  /** The root of every local folder named in an input (marketing's outputs.folder): nothing is written outside it. */
  exportDir: string;
  timezone: string;
}

/** Where the embedded stack keeps the key it generated on its first start. */
export const embeddedCodecKeyFile = (dataDir: string): string => path.join(dataDir, 'codec-keys.json');

/** The keys from ETL_CODEC_KEYS, or from a key file (ETL_CODEC_KEY_FILE, or the embedded stack's own when it exists). */
function codecKeys(config: EtlConfig, temporalEmbedded: boolean): { keys?: CodecKeys; keyFile?: string } {
  if (config.ETL_CODEC_KEYS) {
    const keys = parseCodecKeys(config.ETL_CODEC_KEYS);
    return { keys: { keys, currentKeyId: config.ETL_CODEC_KEY_ID ?? [...keys.keys()][0] } };
  }
  const keyFile = config.ETL_CODEC_KEY_FILE ?? (temporalEmbedded ? embeddedCodecKeyFile(config.ETL_DATA_DIR) : undefined);
  if (!keyFile || (!config.ETL_CODEC_KEY_FILE && !existsSync(keyFile))) return {};
  let stored: { ETL_CODEC_KEYS?: unknown; ETL_CODEC_KEY_ID?: unknown };
  try {
    stored = JSON.parse(readFileSync(keyFile, 'utf8')) as typeof stored;
  } catch (error) {
    throw new ConfigError(`cannot read the codec key file ${keyFile} (ETL_CODEC_KEY_FILE): ${(error as Error).message}`);
  }
  const list = typeof stored.ETL_CODEC_KEYS === 'string' ? stored.ETL_CODEC_KEYS : '';
  const problem = codecKeysProblem(list);
  if (problem) throw new ConfigError(`codec key file ${keyFile}: ETL_CODEC_KEYS ${problem}`);
  const keys = parseCodecKeys(list);
  const currentKeyId = config.ETL_CODEC_KEY_ID ?? (typeof stored.ETL_CODEC_KEY_ID === 'string' ? stored.ETL_CODEC_KEY_ID : [...keys.keys()][0]);
  if (!CODEC_KEY_ID.test(currentKeyId) || !keys.has(currentKeyId)) {
    throw new ConfigError(`codec key file ${keyFile}: ETL_CODEC_KEY_ID "${currentKeyId}" is not one of its keys`);
  }
  return { keys: { keys, currentKeyId }, keyFile };
}

/** The Temporal CLI's profile (temporal.toml, TEMPORAL_PROFILE), as Temporal users already keep it. */
function temporalProfile(config: EtlConfig): ClientConfigProfile {
  try {
    return loadClientConfigProfile({
      disableEnv: true,
      profile: config.TEMPORAL_PROFILE,
      configSource: config.TEMPORAL_CONFIG_FILE ? { path: config.TEMPORAL_CONFIG_FILE } : undefined,
    });
  } catch (error) {
    throw new ConfigError(`invalid Temporal client profile: ${(error as Error).message}`);
  }
}

export function resolveSettings(config: EtlConfig): Settings {
  const pgPort = config.ETL_POSTGRES_PORT;
  const profile = temporalProfile(config);
  const temporalAddress = config.TEMPORAL_ADDRESS ?? profile.address;
  const temporalEmbedded = !temporalAddress;
  const s3Embedded = !config.S3_ENDPOINT;
  const sftpEmbedded = !config.SFTP_HOST;
  const codec = codecKeys(config, temporalEmbedded);
  return {
    temporal: {
      address: temporalAddress ?? `127.0.0.1:${config.ETL_TEMPORAL_PORT}`,
      namespace: config.TEMPORAL_NAMESPACE ?? profile.namespace ?? 'default',
      embedded: temporalEmbedded,
      webUi: temporalEmbedded ? `http://127.0.0.1:${config.ETL_TEMPORAL_UI_PORT}` : config.TEMPORAL_WEB_UI,
      profile: { name: config.TEMPORAL_PROFILE, configFile: config.TEMPORAL_CONFIG_FILE },
    },
    postgres: {
      databaseUrl: config.DATABASE_URL ?? embeddedUrl(pgPort, EMBEDDED_USER, EMBEDDED_PASSWORD, TARGET_DATABASE),
      sourceDatabaseUrl: config.SOURCE_DATABASE_URL ?? embeddedUrl(pgPort, READER_USER, READER_PASSWORD, SOURCE_DATABASE),
      // Only sample-data and the tests write to the source; the pipelines read it as the read-only user.
      sourceAdminUrl: config.SOURCE_ADMIN_DATABASE_URL ?? config.SOURCE_DATABASE_URL
        ?? embeddedUrl(pgPort, EMBEDDED_USER, EMBEDDED_PASSWORD, SOURCE_DATABASE),
      embedded: !config.DATABASE_URL,
    },
    s3: {
      endpoint: config.S3_ENDPOINT ?? `http://127.0.0.1:${config.ETL_S3_PORT}`,
      bucket: config.S3_BUCKET,
      region: config.S3_REGION,
      accessKeyId: s3Embedded ? EMBEDDED_S3_KEY : (config.AWS_ACCESS_KEY_ID ?? ''),
      secretAccessKey: s3Embedded ? EMBEDDED_S3_SECRET : (config.AWS_SECRET_ACCESS_KEY ?? ''),
      embedded: s3Embedded,
    },
    sftp: sftpEmbedded
      ? {
          host: '127.0.0.1',
          port: config.ETL_SFTP_PORT,
          user: EMBEDDED_SFTP_USER,
          privateKeyFile: path.join(config.ETL_DATA_DIR, 'keys', 'etl_user_ed25519'),
          embedded: true,
        }
      : {
          host: config.SFTP_HOST!,
          port: config.SFTP_PORT,
          user: config.SFTP_USER ?? '',
          privateKeyFile: config.SFTP_PRIVATE_KEY_FILE,
          password: config.SFTP_PASSWORD,
          hostKey: config.SFTP_HOST_KEY,
          embedded: false,
        },
    gemini: { apiKey: config.GEMINI_API_KEY, baseUrl: config.GEMINI_BASE_URL, requestsPerMinute: config.GEMINI_RPM },
    mailing: { campaignsDir: config.MAILING_CAMPAIGNS_DIR ?? DEFAULT_CAMPAIGNS_DIR },
    codec: {
      ...codec,
      port: config.ETL_CODEC_PORT,
      // The embedded stack runs its codec server next to the Web UI; elsewhere it is wherever it was deployed.
      serverUrl: temporalEmbedded ? (codec.keys ? `http://127.0.0.1:${config.ETL_CODEC_PORT}` : undefined) : config.ETL_CODEC_SERVER_URL,
      authToken: config.ETL_CODEC_AUTH_TOKEN,
    },
    worker: {
      workflowBundle: config.ETL_WORKFLOW_BUNDLE,
      maxConcurrentActivities: config.ETL_WORKER_MAX_CONCURRENT_ACTIVITIES,
      maxConcurrentWorkflowTasks: config.ETL_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
      maxCachedWorkflows: config.ETL_WORKER_MAX_CACHED_WORKFLOWS,
      stickyQueueTimeout: config.ETL_WORKER_STICKY_TIMEOUT,
      maxActivitiesPerSecond: config.ETL_WORKER_MAX_ACTIVITIES_PER_SECOND,
      taskQueueMaxActivitiesPerSecond: config.ETL_TASK_QUEUE_MAX_ACTIVITIES_PER_SECOND,
    },
    dataDir: config.ETL_DATA_DIR,
    exportDir: path.resolve(config.ETL_EXPORT_DIR ?? path.join(config.ETL_DATA_DIR, 'exports')),
    timezone: config.ETL_TIMEZONE,
  };
}

/** The same settings as environment variables, for a child process (a worker) or for the user to copy. */
export function settingsToEnv(settings: Settings): Record<string, string> {
  const env: Record<string, string> = {
    ETL_DATA_DIR: settings.dataDir,
    ETL_EXPORT_DIR: settings.exportDir,
    TEMPORAL_ADDRESS: settings.temporal.address,
    TEMPORAL_NAMESPACE: settings.temporal.namespace,
    DATABASE_URL: settings.postgres.databaseUrl,
    SOURCE_DATABASE_URL: settings.postgres.sourceDatabaseUrl,
    SOURCE_ADMIN_DATABASE_URL: settings.postgres.sourceAdminUrl,
    S3_ENDPOINT: settings.s3.endpoint,
    S3_BUCKET: settings.s3.bucket,
    S3_REGION: settings.s3.region,
    AWS_ACCESS_KEY_ID: settings.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: settings.s3.secretAccessKey,
    SFTP_HOST: settings.sftp.host,
    SFTP_PORT: String(settings.sftp.port),
    SFTP_USER: settings.sftp.user,
  };
  if (settings.temporal.webUi) env.TEMPORAL_WEB_UI = settings.temporal.webUi;
  if (settings.temporal.profile.name) env.TEMPORAL_PROFILE = settings.temporal.profile.name;
  if (settings.temporal.profile.configFile) env.TEMPORAL_CONFIG_FILE = settings.temporal.profile.configFile;
  if (settings.sftp.privateKeyFile) env.SFTP_PRIVATE_KEY_FILE = settings.sftp.privateKeyFile;
  if (settings.sftp.password) env.SFTP_PASSWORD = settings.sftp.password;
  if (settings.gemini.apiKey) env.GEMINI_API_KEY = settings.gemini.apiKey;
  if (settings.gemini.baseUrl) env.GEMINI_BASE_URL = settings.gemini.baseUrl;
  env.GEMINI_RPM = String(settings.gemini.requestsPerMinute);
  if (settings.sftp.hostKey) env.SFTP_HOST_KEY = settings.sftp.hostKey;
  env.MAILING_CAMPAIGNS_DIR = settings.mailing.campaignsDir;
  // The key file's path, never the keys: this is printed for the user to copy.
  if (settings.codec.keyFile) env.ETL_CODEC_KEY_FILE = settings.codec.keyFile;
  if (settings.codec.serverUrl) env.ETL_CODEC_SERVER_URL = settings.codec.serverUrl;
  return env;
}
