import { S3Client } from '@aws-sdk/client-s3';
import type { Settings } from '../config/settings';

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
