// What a worker's activities talk to, built once per worker and handed to each pipeline's activity factory
// (dagster's resources): database pools, the S3 client, the settings and the secrets that configurations name.
import type { S3Client } from '@aws-sdk/client-s3';
import type pg from 'pg';
import type { Settings } from '../config/settings';
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
   * from the worker's environment: the one place activities get one, so none reads process.env itself.
   */
  secret(name: string): string | undefined;
  /** Closes every pool and client handed out. */
  close(): Promise<void>;
}

export function createWorkerResources(settings: Settings): WorkerResources {
  const pools: pg.Pool[] = [];
  const s3 = createS3Client(settings.s3);
  return {
    settings,
    s3,
    secret: (name) => process.env[name],
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
