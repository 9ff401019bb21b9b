// Puts a finished local file where its readers are, so that no reader ever sees half a file: a local folder
// and SFTP get a temporary name and a rename; an S3 PUT is atomic by itself.
import { copyFileSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '../../lib/io/s3';
import type { Settings } from '../../lib/config/settings';
import { connectSftp } from '../../lib/io/sftp';

export function publishToFolder(file: string, folder: string): string {
  mkdirSync(folder, { recursive: true });
  const final = path.join(folder, path.basename(file));
  const temporary = path.join(folder, `.${path.basename(file)}.part`);
  copyFileSync(file, temporary);
  renameSync(temporary, final);
  return final;
}

export async function publishToS3(settings: Settings['s3'], file: string, prefix: string): Promise<string> {
  const key = `${prefix.replace(/^\/+/, '').replace(/\/?$/, '/')}${path.basename(file)}`;
  const client = createS3Client(settings);
  try {
    // A buffer, not a stream: a stream goes out with aws-chunked encoding, which not every S3-compatible server takes.
    await client.send(new PutObjectCommand({ Bucket: settings.bucket, Key: key, Body: readFileSync(file) }));
  } finally {
    client.destroy();
  }
  return `s3://${settings.bucket}/${key}`;
}

/** Same connection rules as the dialer deliveries: credentials from the environment, host key pinned when set. */
export async function publishToSftp(settings: Settings['sftp'], file: string, folder: string): Promise<string> {
  const sftp = await connectSftp(settings);
  try {
    await sftp.mkdir(folder, true);
    const final = path.posix.join(folder, path.basename(file));
    const temporary = path.posix.join(folder, `.${path.basename(file)}.part`);
    await sftp.put(file, temporary);
    if (await sftp.exists(final)) await sftp.delete(final);
    await sftp.rename(temporary, final);
    return `sftp://${settings.host}:${settings.port}${final.startsWith('/') ? '' : '/'}${final}`;
  } finally {
    await sftp.end();
  }
}
