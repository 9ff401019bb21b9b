// What a worker's activities talk to, built once per worker and handed to each pipeline's activity factory
// (dagster's resources): database pools, the S3 client, the settings and the secrets that configurations name.
import type { S3Client } from '@aws-sdk/client-s3';
import type pg from 'pg';
import { ApplicationFailure } from '@temporalio/common';
import type { Settings } from '../config/settings';
import { ErrorType } from '../workflow/errors';
import { createPool } from './postgres';
import { createS3Client } from './s3';

export interface WorkerResources {
  settings: Settings;
  /**
   * A pool of its own on the target database (`DATABASE_URL`) or the source (`SOURCE_DATABASE_URL`, the read-only
   * user), of `maxConnections`, closed with the worker. Each pipeline sizes its pools for what one activity holds.
   */
  postgres(database: 'target' | 'source', maxConnections: number): pg.Pool;
  s3: S3Client;
  /**
   * A secret that a pipeline's configuration names by its environment variable (a REST token, a database URL), read
   * from the worker's environment: the one place activities get one, so none reads process.env itself. Only names on
   * the allow-list of their kind may be read (an input naming PATH or AWS_SECRET_ACCESS_KEY is refused, saying so);
   * without a kind, the name is the code's own (ALERT_WEBHOOK_URL), not an input's, and is read as it is.
   */
  secret(name: string, kind?: SecretKind): string | undefined;
  /** Closes every pool and client handed out. */
  close(): Promise<void>;
}

export type SecretKind = 'url' | 'token';

/** Which environment variables a configuration may name, per kind: comma-separated names, `*` matching any part. */
export const SECRET_ALLOW_LISTS: Record<SecretKind, { variable: string; default: string }> = {
  url: { variable: 'ETL_URL_ENV_ALLOW', default: 'SOURCE_*_URL' },
  token: { variable: 'ETL_TOKEN_ENV_ALLOW', default: '*_API_TOKEN' },
};

const matches = (name: string, pattern: string) =>
  new RegExp(`^${pattern.split('*').map((part) => part.replace(/[^A-Za-z0-9_]/g, '\\$&')).join('[A-Za-z0-9_]*')}$`).test(name);

/** Reads `name` from `env` when its kind's allow-list names it; refuses (non-retryable, naming the list) otherwise. */
export function readSecret(env: NodeJS.ProcessEnv, name: string, kind: SecretKind): string | undefined {
  const list = SECRET_ALLOW_LISTS[kind];
  const patterns = (env[list.variable] ?? list.default).split(',').map((p) => p.trim()).filter(Boolean);
  if (!patterns.some((pattern) => matches(name, pattern))) {
    throw ApplicationFailure.nonRetryable(`the variable ${name} may not be named here: a ${kind === 'url' ? 'database URL' : 'token'} comes from a `
      + `variable matching ${patterns.join(', ') || '(none)'} (${list.variable})`, ErrorType.ConfigurationError);
  }
  return env[name];
}

export function createWorkerResources(settings: Settings): WorkerResources {
  const pools: pg.Pool[] = [];
  const s3 = createS3Client(settings.s3);
  return {
    settings,
    s3,
    secret: (name, kind) => (kind ? readSecret(process.env, name, kind) : process.env[name]),
    postgres(database, maxConnections) {
      const url = database === 'target' ? settings.postgres.databaseUrl : settings.postgres.sourceDatabaseUrl;
      const pool = createPool(url, maxConnections);
      pools.push(pool);
      return pool;
    },
    async close() {
      s3.destroy();
      await Promise.all(pools.map((pool) => pool.end()));
    },
  };
}
