import { createHash } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import type SftpClient from 'ssh2-sftp-client';
import type { DeliveryReceipt, PlannedDelivery } from '../../lib/contracts/mailing-campaigns';
import { exportCampaign } from './campaign-export';
import { afterDeliveries, readJournal, tryLockDelivery, unlockDelivery, writeJournal, type RunRef } from './deliveries-journal';
import { connectSftp, remoteMd5, SftpUpload, whenConnectionLost, type SftpSettings } from '../../lib/io/sftp';
import { ErrorType } from '../../lib/workflow/errors';

export interface DeliveryDeps {
  /** The source database, as the read-only user. */
  source: pg.Pool;
  /** The target database, where mailing_deliveries lives. */
  target: pg.Pool;
  sftp: SftpSettings;
  timeZone: string;
  /** The project's own campaigns/ (MAILING_CAMPAIGNS_DIR unset): their folders and base are the sample data. */
  sampleCampaigns?: boolean;
}

export interface DeliveryHooks {
  attempt?: number;
  heartbeat?: (details: { bytes: number }) => void;
  /** Fault injection for tests: after the upload is verified, before the journal row. */
  afterUpload?: (tempPath: string) => Promise<void>;
  /** Fault injection for tests: after the journal row ('renaming'), before the rename. */
  beforeRename?: (tempPath: string) => Promise<void>;
}

/** Temporary uploads are hidden files named after the final one: `.mailing_x_22-12_10-00.csv.part-<run>-<attempt>`. */
export const tempPrefix = (fileName: string) => `.${fileName}.part-`;

/** Counts and hashes the bytes on their way to the server. */
class Fingerprint extends Transform {
  bytes = 0;
  private readonly sha256 = createHash('sha256');
  private readonly md5 = createHash('md5');
  constructor(private readonly onProgress?: (bytes: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    this.sha256.update(chunk);
    this.md5.update(chunk);
    this.onProgress?.(this.bytes);
    done(null, chunk);
  }
  digests() {
    return { sha256: this.sha256.digest('hex'), md5: this.md5.digest('hex') };
  }
}

/**
 * LF -> CRLF on the way out (Postgres' COPY writes LF). Every LF becomes CRLF, so a line break inside a quoted
 * value does too, which is what a Windows dialer reads back; a CR already before an LF is not doubled.
 */
class CrlfLines extends Transform {
  private lastWasCr = false;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null, data?: Buffer) => void): void {
    const parts: Buffer[] = [];
    let from = 0;
    for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) {
      const afterCr = i > 0 ? chunk[i - 1] === 0x0d : this.lastWasCr;
      parts.push(chunk.subarray(from, i), afterCr ? LF : CRLF);
      from = i + 1;
    }
    parts.push(chunk.subarray(from));
    if (chunk.length) this.lastWasCr = chunk[chunk.length - 1] === 0x0d;
    done(null, Buffer.concat(parts));
  }
}
const LF = Buffer.from('\n');
const CRLF = Buffer.from('\r\n');

/** Rows in a file someone else put under our name: its lines, less the header line when the campaign has one. */
async function countRows(sftp: SftpClient, remotePath: string, header: boolean): Promise<number> {
  let lines = 0;
  let last = 0x0a;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) lines++;
      if (chunk.length) last = chunk[chunk.length - 1];
      done();
    },
  });
  await pipeline(sftp.createReadStream(remotePath), counter);
  if (last !== 0x0a) lines++;
  return Math.max(lines - (header ? 1 : 0), 0);
}

const throttled = (every: number, run: (bytes: number) => void) => {
  let last = 0;
  return (bytes: number) => {
    if (Date.now() - last < every) return;
    last = Date.now();
    run(bytes);
  };
};

const receipt = (delivery: PlannedDelivery, fields: Omit<DeliveryReceipt, 'campaign' | 'fileName' | 'remotePath'>): DeliveryReceipt => ({
  campaign: delivery.campaign.name, fileName: delivery.fileName, remotePath: delivery.remotePath, ...fields,
});

async function sizeOf(sftp: SftpClient, remotePath: string): Promise<number | undefined> {
  return (await sftp.exists(remotePath)) === '-' ? (await sftp.stat(remotePath)).size : undefined;
}

/** Temporary files of this final name left by a crashed attempt; the final file and other campaigns' files are untouched. */
async function removeStaleTemps(sftp: SftpClient, folder: string, fileName: string): Promise<number> {
  const stale = (await sftp.list(folder)).filter((f) => f.type === '-' && f.name.startsWith(tempPrefix(fileName)));
  for (const file of stale) await sftp.delete(path.posix.join(folder, file.name), true);
  return stale.length;
}

/**
 * Delivers one campaign's file for one slot, exactly once: the query streams through a fingerprint into a
 * temporary file in the campaign's folder, its size (and the server's MD5 where offered) is verified, the
 * journal row is written, and only then is the file renamed to the name the dialer watches for.
 * Run it again for the same slot, after success or after a crash at any point, and it delivers nothing twice.
 */
export async function deliverCampaign(
  deps: DeliveryDeps, delivery: PlannedDelivery, run: RunRef, hooks: DeliveryHooks = {},
): Promise<DeliveryReceipt> {
  const { campaign, remotePath, fileName } = delivery;
  const folder = path.posix.dirname(remotePath);
  const journalClient = await deps.target.connect();
  try {
    if (!(await tryLockDelivery(journalClient, delivery))) {
      throw new Error(`another delivery of campaign ${campaign.name} for slot ${delivery.slot} is running; retrying later`);
    }
    try {
      const sftp = await connectSftp(deps.sftp);
      try {
        return await deliverLocked(deps, delivery, run, hooks, { journalClient, sftp, folder, fileName });
      } finally {
        await sftp.end().catch(() => undefined);
      }
    } finally {
      await unlockDelivery(journalClient, delivery).catch(() => undefined);
    }
  } finally {
    journalClient.release();
  }
}

async function deliverLocked(
  deps: DeliveryDeps, delivery: PlannedDelivery, run: RunRef, hooks: DeliveryHooks,
  { journalClient, sftp, folder, fileName }: { journalClient: pg.PoolClient; sftp: SftpClient; folder: string; fileName: string },
): Promise<DeliveryReceipt> {
  const { campaign, remotePath } = delivery;
  const folderType = await sftp.exists(folder);
  if (folderType !== 'd') {
    throw ApplicationFailure.nonRetryable(
      `campaign ${campaign.name}: the SFTP folder ${folder} ${folderType ? 'is not a folder' : 'does not exist'} on ${deps.sftp.host}:${deps.sftp.port}; create it (the dialer watches it) or fix sftpFolder in campaigns/${campaign.name}.json${
        deps.sampleCampaigns ? '; the project\'s campaigns are samples: `npx etl sample-data partners` makes their folders and partner base, '
          + 'or set MAILING_CAMPAIGNS_DIR to your campaigns' : ''}`,
      ErrorType.FolderMissing);
  }

  // 1. Already done for this slot? The journal says so; the final file may since have been taken by the dialer.
  const journal = await readJournal(journalClient, delivery);
  const finalSize = await sizeOf(sftp, remotePath);
  const recorded = { rows: journal?.rows ?? 0, bytes: journal?.bytes ?? 0, sha256: journal?.sha256 ?? null, remoteChecksum: null };
  if (journal?.status === 'delivered' || (journal?.status === 'renaming' && finalSize !== undefined && finalSize === journal.bytes)) {
    if (journal.status === 'renaming') await writeJournal(journalClient, delivery, run, { status: 'delivered' });
    return receipt(delivery, { status: 'already-delivered', ...recorded });
  }
  if (journal?.status === 'empty-not-sent') return receipt(delivery, { status: 'empty-not-sent', ...recorded });
  if (finalSize !== undefined) {
    // Someone else's file under our name (a manual upload?): the dialer may have started on it; never overwrite.
    const rows = await countRows(sftp, remotePath, campaign.header);
    await writeJournal(journalClient, delivery, run, { status: 'already-present', rows, bytes: finalSize });
    return receipt(delivery, { status: 'already-present', rows, bytes: finalSize, sha256: null, remoteChecksum: null });
  }

  // 2. Upload under a temporary name, fingerprinting the bytes as they go. The file is opened before the query
  //    starts: a query failing at once would otherwise fail before the server created the file, and the cleanup below
  //    would run before it appeared (an empty hidden file left in the dialer's folder).
  await removeStaleTemps(sftp, folder, fileName);
  const tempPath = path.posix.join(folder, `${tempPrefix(fileName)}${run.runId.slice(0, 8)}-${hooks.attempt ?? 1}`);
  const fingerprint = new Fingerprint(hooks.heartbeat && throttled(1000, (bytes) => hooks.heartbeat!({ bytes })));
  const upload = new SftpUpload(sftp, tempPath);
  let rows: number;
  const lost = whenConnectionLost(sftp, deps.sftp);
  // Stops the export when the connection is lost first: an upload stream on a dead connection never closes, so the
  // export's pipeline would never end, and its query's transaction would stay open on the source, holding its locks.
  const stop = new AbortController();
  let exporting: Promise<unknown> | undefined;
  try {
    await Promise.race([once(upload, 'ready'), lost]);
    const running = exportCampaign(deps.source, campaign, deps.timeZone, (csv) => (campaign.lineEnding === 'CRLF'
      ? pipeline(csv, new CrlfLines(), fingerprint, upload, { signal: stop.signal })
      : pipeline(csv, fingerprint, upload, { signal: stop.signal })));
    exporting = running.catch(() => undefined);
    ({ rows } = await Promise.race([running, lost]));
  } catch (error) {
    stop.abort(error);
    await exporting; // its connection closed (the transaction with it) before the attempt ends
    upload.destroy();
    await sftp.delete(tempPath, true).catch(() => undefined);
    // Whatever was written under this final name's temporary prefix by this or an earlier attempt: nothing stays.
    await removeStaleTemps(sftp, folder, fileName).catch(() => undefined);
    throw error;
  }
  const { sha256, md5 } = fingerprint.digests();
  const bytes = fingerprint.bytes;

  // 3. Verify what the server holds: its size, and its own MD5 where the server computes one.
  const uploaded = await sizeOf(sftp, tempPath);
  const serverMd5 = uploaded === bytes ? await remoteMd5(sftp, tempPath) : undefined;
  if (uploaded !== bytes || (serverMd5 !== undefined && serverMd5 !== md5)) {
    await sftp.delete(tempPath, true).catch(() => undefined);
    throw new Error(`campaign ${campaign.name}: the server holds ${uploaded ?? 'no'} bytes${serverMd5 ? ` (md5 ${serverMd5})` : ''} of the ${bytes} sent (md5 ${md5}); sending again`);
  }
  const remoteChecksum = serverMd5 === undefined ? 'not-offered' as const : 'matched' as const;

  if (rows === 0 && campaign.emptyResult === 'send-nothing') {
    await sftp.delete(tempPath, true);
    await writeJournal(journalClient, delivery, run, { status: 'empty-not-sent', rows: 0, bytes: 0 });
    return receipt(delivery, { status: 'empty-not-sent', rows: 0, bytes: 0, sha256: null, remoteChecksum: null });
  }
  await hooks.afterUpload?.(tempPath);

  // 4. Journal first, then the rename: a crash in between is recognised by the next attempt (step 1).
  await writeJournal(journalClient, delivery, run, { status: 'renaming', rows, bytes, sha256 });
  await hooks.beforeRename?.(tempPath);
  await sftp.rename(tempPath, remotePath);
  await writeJournal(journalClient, delivery, run, { status: 'delivered', rows, bytes, sha256 });
  return receipt(delivery, { status: 'delivered', rows, bytes, sha256, remoteChecksum });
}

/**
 * After a run was cancelled: once no attempt delivers the slot's file any more, its temporary files are removed from
 * the campaign's folder and its journal row is closed. A file already renamed stays delivered (the dialer may have
 * taken it); anything else is 'cancelled', and the next run for the slot delivers it.
 */
export async function closeCancelledDelivery(deps: DeliveryDeps, delivery: PlannedDelivery, run: RunRef, waitMs = 60_000): Promise<JournalStatusAfterCancel> {
  return afterDeliveries(deps.target, delivery, waitMs, async (client) => {
    const journal = await readJournal(client, delivery);
    if (journal && ['delivered', 'already-present', 'empty-not-sent', 'invalid'].includes(journal.status)) return journal.status as JournalStatusAfterCancel;
    const folder = path.posix.dirname(delivery.remotePath);
    const sftp = await connectSftp(deps.sftp);
    try {
      if (journal?.status === 'renaming' && (await sizeOf(sftp, delivery.remotePath)) === journal.bytes) {
        await writeJournal(client, delivery, run, { status: 'delivered' });
        return 'delivered';
      }
      if ((await sftp.exists(folder)) === 'd') await removeStaleTemps(sftp, folder, delivery.fileName);
    } finally {
      await sftp.end().catch(() => undefined);
    }
    await writeJournal(client, delivery, run, { status: 'cancelled', error: 'the run was cancelled before this file was delivered' });
    return 'cancelled';
  });
}

export type JournalStatusAfterCancel = 'delivered' | 'already-present' | 'empty-not-sent' | 'invalid' | 'cancelled';
