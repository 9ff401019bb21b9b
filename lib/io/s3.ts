import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import type { Settings } from '../config/settings';
import { ErrorType } from '../workflow/errors';

/** A client for the configured S3 (or the embedded rclone server), path-style so any S3-compatible server works. */
export function createS3Client(s3: Settings['s3']): S3Client {
  // The SDK warns on every start under Node 20 that its releases after January 2027 will need Node 22. The lockfile
  // pins the SDK, so that is the project's to act on (docs/architecture.md), not the person running a pipeline.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
}

/** `s3://bucket/key`, or `s3:key` in the configured bucket; undefined for a local path. */
export function parseS3Location(location: string, defaultBucket: string): { bucket: string; key: string } | undefined {
  const full = /^s3:\/\/([^/]+)\/(.+)$/.exec(location);
  if (full) return { bucket: full[1], key: full[2] };
  const short = /^s3:(?!\/\/)(.+)$/.exec(location);
  return short ? { bucket: defaultBucket, key: short[1] } : undefined;
}

/** A file read by byte ranges, as hyparquet's AsyncBuffer wants it. */
export interface RangedObject {
  byteLength: number;
  /** The version read: every range comes from it. */
  etag: string;
  slice(start: number, end?: number): Promise<ArrayBuffer>;
}

const unquoted = (etag: string | undefined) => etag?.replace(/"/g, '');

/**
 * An S3 object read by ranged GETs, one version only: the one listed (`ifMatch`), else the one its HEAD finds. Each
 * range asks for that ETag (If-Match) and checks the ETag it got (a server may ignore If-Match: the embedded rclone
 * does), so a file replaced half-way fails the read with a retryable SourceChanged instead of mixing two versions.
 */
export async function rangedObject(s3: S3Client, bucket: string, key: string, ifMatch?: string): Promise<RangedObject> {
  let etag = ifMatch;
  const changed = (now: string | undefined) => ApplicationFailure.retryable(`s3://${bucket}/${key} changed while it was read (ETag ${
    unquoted(etag)} became ${unquoted(now) ?? 'another'}): the retry reads the new version`, ErrorType.SourceChanged);
  const failed = (error: Error & { $metadata?: { httpStatusCode?: number } }): never => {
    if (error.$metadata?.httpStatusCode === 412) throw changed(undefined);
    // A HEAD's 404 has no body, so no message: say which file.
    if (error.$metadata?.httpStatusCode === 404) error.message = `s3://${bucket}/${key} does not exist (NoSuchKey)`;
    throw error;
  };
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, IfMatch: etag })).catch(failed);
  if (etag && unquoted(head.ETag) !== unquoted(etag)) throw changed(head.ETag);
  etag ??= head.ETag;
  const byteLength = head.ContentLength ?? 0;
  return {
    byteLength,
    etag: etag ?? '',
    async slice(start, end = byteLength) {
      if (end <= start) return new ArrayBuffer(0);
      const command = new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${end - 1}`, IfMatch: etag });
      // The SDK checks a body against the checksum header; S3 sends none for a range, rclone sends the whole object's.
      command.middlewareStack.add((next) => async (args) => {
        const result = await next(args);
        const headers = (result.response as { headers?: Record<string, string> }).headers ?? {};
        if (headers['content-range']) for (const name of Object.keys(headers)) if (name.startsWith('x-amz-checksum-')) delete headers[name];
        return result;
      }, { step: 'deserialize', priority: 'low', name: 'rangeWithoutObjectChecksum' });
      const part = await s3.send(command).catch(failed);
      if (etag && unquoted(part.ETag) !== unquoted(etag)) {
        (part.Body as { destroy?: () => void } | undefined)?.destroy?.();
        throw changed(part.ETag);
      }
      const bytes = await part.Body!.transformToByteArray();
      if (bytes.byteLength !== end - start) throw new Error(`s3://${bucket}/${key}: asked for bytes ${start}-${end - 1}, got ${bytes.byteLength} bytes`);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
  };
}
