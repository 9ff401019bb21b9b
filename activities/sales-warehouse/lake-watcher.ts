// The lake watcher's verbs: list the prefix for files not started yet (by key and ETag), and record a started one.
import { createHash } from 'node:crypto';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { type LakeFile, lakeRunId } from '../../lib/contracts/sales-warehouse-watcher';
import type { SalesDeps } from './extract';

export interface NewLakeFile extends LakeFile {
  /** The salesWarehouse run's workflow id, derived from key and ETag. */
  workflowId: string;
}

/** The .csv and .xlsx files under `prefix` whose key and ETag no run was started for, oldest first, at most `limit`. */
export async function listNewLakeFiles(deps: SalesDeps, request: { prefix: string; limit: number }): Promise<NewLakeFile[]> {
  const found: (LakeFile & { modified: number })[] = [];
  let token: string | undefined;
  do {
    const page = await deps.s3.send(new ListObjectsV2Command({ Bucket: deps.bucket, Prefix: request.prefix, ContinuationToken: token }));
    for (const object of page.Contents ?? []) {
      if (!object.Key || !/\.(csv|xlsx)$/i.test(object.Key) || !object.ETag) continue;
      found.push({ key: object.Key, etag: object.ETag.replaceAll('"', ''), size: object.Size ?? 0, modified: object.LastModified?.getTime() ?? 0 });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  if (!found.length) return [];
  const { rows } = await deps.target.query<{ key: string; etag: string }>(
    `SELECT key, etag FROM sales_etl.lake_files WHERE key = ANY($1)`, [found.map((f) => f.key)]);
  const seen = new Set(rows.map((r) => `${r.key}\n${r.etag}`));
  return found.filter((f) => !seen.has(`${f.key}\n${f.etag}`))
    .sort((a, b) => a.modified - b.modified || a.key.localeCompare(b.key))
    .slice(0, request.limit)
    .map(({ key, etag, size }) => ({ key, etag, size, workflowId: lakeRunId({ key, etag, size }, createHash('sha256').update(`${key}\n${etag}`).digest('hex')) }));
}

export async function recordLakeFile(deps: SalesDeps, file: NewLakeFile, watcherId: string): Promise<void> {
  await deps.target.query(`INSERT INTO sales_etl.lake_files (key, etag, size, workflow_id, watcher_id) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (key, etag) DO NOTHING`, [file.key, file.etag, file.size, file.workflowId, watcherId]);
}
