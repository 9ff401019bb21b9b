// SFTP connections for deliveries: credentials from the environment (settings), the host key pinned when
// configured, and failures sorted into "retry later" (network) and "a person must fix this" (auth, host key).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { Writable } from 'node:stream';
import { ApplicationFailure } from '@temporalio/common';
import SftpClient from 'ssh2-sftp-client';
import type { Settings } from '../config/settings';
import { ErrorType } from '../workflow/errors';

export type SftpSettings = Settings['sftp'];

const where = (s: SftpSettings) => `${s.user}@${s.host}:${s.port}`;

/**
 * Does the server's host key match the pinned one? `pinned` is an OpenSSH public key line
 * ("ssh-ed25519 AAAA...") or a fingerprint as `ssh-keygen -lf` prints it ("SHA256:...").
 */
export function hostKeyMatches(pinned: string, serverKey: Buffer): boolean {
  const value = pinned.trim();
  if (value.startsWith('SHA256:')) {
    const fingerprint = createHash('sha256').update(serverKey).digest('base64').replace(/=+$/, '');
    return value.slice('SHA256:'.length).replace(/=+$/, '') === fingerprint;
  }
  const blob = value.split(/\s+/).find((part) => part.startsWith('AAAA'));
  return blob !== undefined && Buffer.from(blob, 'base64').equals(serverKey);
}

function credentials(s: SftpSettings): { privateKey?: Buffer; password?: string } {
  if (s.privateKeyFile) {
    try {
      return { privateKey: readFileSync(s.privateKeyFile), password: s.password };
    } catch (error) {
      throw ApplicationFailure.nonRetryable(
        `cannot read the SFTP private key ${s.privateKeyFile} (SFTP_PRIVATE_KEY_FILE): ${(error as Error).message}`, ErrorType.ConfigurationError);
    }
  }
  if (s.password) return { password: s.password };
  throw ApplicationFailure.nonRetryable(`no SFTP credentials for ${where(s)}: set SFTP_PRIVATE_KEY_FILE or SFTP_PASSWORD`, ErrorType.ConfigurationError);
}

/** Connects, or fails: bad credentials and a wrong host key at once (non-retryable), network trouble for a retry. */
export async function connectSftp(s: SftpSettings): Promise<SftpClient> {
  const client = new SftpClient('mailing');
  const auth = credentials(s);
  let hostKeyRejected = false;
  try {
    await client.connect({
      host: s.host, port: s.port, username: s.user, ...auth, readyTimeout: 15_000,
      // Our own socket, without Nagle's delay from its first packet: otherwise every step of the handshake and every
      // SFTP write waits out the peer's delayed ACK (a connect took 350 ms instead of 10 ms; 10 MB 14 s instead of 0.2 s).
      sock: net.connect({ host: s.host, port: s.port, noDelay: true }),
      ...(s.hostKey ? { hostVerifier: (key: Buffer) => (hostKeyRejected = !hostKeyMatches(s.hostKey!, key), !hostKeyRejected) } : {}),
    });
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    const message = (error as Error).message;
    if (hostKeyRejected) {
      throw ApplicationFailure.nonRetryable(
        `the SFTP server ${s.host}:${s.port} did not present the pinned host key (SFTP_HOST_KEY): refusing to send files to it`, ErrorType.HostKeyMismatch);
    }
    if (/authentication methods failed|authentication failed|permission denied/i.test(message)) {
      const using = auth.privateKey ? `the key ${s.privateKeyFile}` : 'the password SFTP_PASSWORD';
      throw ApplicationFailure.nonRetryable(
        `SFTP login refused for ${where(s)} with ${using}: check SFTP_USER, SFTP_PRIVATE_KEY_FILE or SFTP_PASSWORD`, ErrorType.AuthenticationError);
    }
    // Refused, reset, timed out, DNS: the server may be restarting; the activity's retry policy backs off.
    throw new Error(`cannot reach the SFTP server ${s.host}:${s.port}: ${message}`);
  }
}

/**
 * Rejects (a retryable error) once the SSH connection under `client` closes: a server going away mid-upload leaves
 * the write stream waiting forever, while the activity's heartbeat timer keeps Temporal from timing it out.
 */
export function whenConnectionLost(client: SftpClient, s: SftpSettings): Promise<never> {
  const ssh = (client as unknown as { client: import('ssh2').Client }).client;
  const lost = new Promise<never>((_, reject) => ssh.once('close', () => reject(new Error(`the SFTP server ${where(s)} closed the connection`))));
  lost.catch(() => undefined);
  return lost;
}

/**
 * The server's own MD5 of a file, when it runs `md5sum` over SSH (OpenSSH with a shell, rclone serve sftp);
 * undefined when it does not offer it. Only a read: a server without the command changes nothing.
 */
export function remoteMd5(client: SftpClient, remotePath: string): Promise<string | undefined> {
  const ssh = (client as unknown as { client: import('ssh2').Client }).client;
  // rclone takes the argument as it comes, without shell quoting: paths that would need quoting are not checked.
  if (!/^[A-Za-z0-9_./-]+$/.test(remotePath)) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    ssh.exec(`md5sum ${remotePath}`, (error, stream) => {
      if (error) return resolve(undefined);
      let output = '';
      stream.on('data', (chunk: Buffer) => (output += chunk.toString()));
      stream.stderr.on('data', () => undefined);
      stream.on('close', (code: number | null) => {
        const hex = /^([0-9a-f]{32})\b/.exec(output.trim())?.[1];
        resolve(code === 0 || code === null ? hex : undefined);
      });
    });
  });
}

interface RawSftp {
  _maxWriteLen: number;
  open(path: string, flags: string, cb: (error: Error | undefined, handle: Buffer) => void): void;
  fchmod(handle: Buffer, mode: number, cb: (error?: Error) => void): void;
  chmod(path: string, mode: number, cb: (error?: Error) => void): void;
  write(handle: Buffer, data: Buffer, offset: number, length: number, position: number, cb: (error?: Error) => void): void;
  close(handle: Buffer, cb: (error?: Error) => void): void;
}

/**
 * A new remote file (created or truncated) as a write stream that keeps a few writes in flight: the bytes go out in
 * whole SFTP packets, issued strictly in file order, and the stream takes more as soon as one is acknowledged.
 * (ssh2's own write stream waits for each packet's answer before it sends the next; its `concurrency` and fastPut
 * send far more at once, which servers that write sequentially, like rclone's, refuse with `Illegal seek`.)
 * Emits 'ready' once the file is open; 'finish' only after every write was acknowledged and the file closed.
 */
export class SftpUpload extends Writable {
  private readonly sftp: RawSftp;
  private handle: Buffer | undefined;
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private position = 0;
  private inFlight = 0;
  private blocked: (() => void) | undefined;
  private drained: (() => void) | undefined;

  constructor(client: SftpClient, private readonly remotePath: string, private readonly maxInFlight = 4) {
    super({ highWaterMark: 256 * 1024 });
    this.sftp = (client as unknown as { sftp: RawSftp }).sftp;
  }

  override _construct(done: (error?: Error | null) => void): void {
    this.sftp.open(this.remotePath, 'w', (error, handle) => {
      if (error) return done(error);
      this.handle = handle;
      // As ssh2's write stream does: mode 0666 set explicitly, by chmod when the server does not offer fchmod.
      this.sftp.fchmod(handle, 0o666, (fchmodError) => {
        const ready = () => {
          done();
          this.emit('ready');
        };
        if (fchmodError) this.sftp.chmod(this.remotePath, 0o666, ready);
        else ready();
      });
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.send(false);
    if (this.inFlight < this.maxInFlight) done();
    else this.blocked = () => done();
  }

  override _final(done: (error?: Error | null) => void): void {
    this.drained = () => this.sftp.close(this.handle!, (error) => {
      this.handle = undefined;
      done(error);
    });
    this.send(true);
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    const handle = this.handle;
    this.handle = undefined;
    if (!handle) return done(error);
    this.sftp.close(handle, () => done(error));
  }

  /** Sends whole packets while fewer than the maximum are in flight; at the end, the last partial one too. */
  private send(ending: boolean): void {
    const packet = this.sftp._maxWriteLen;
    while (this.inFlight < this.maxInFlight && (this.pendingBytes >= packet || (ending && this.pendingBytes > 0))) {
      const data = this.take(Math.min(packet, this.pendingBytes));
      this.inFlight++;
      this.sftp.write(this.handle!, data, 0, data.length, this.position, (error) => this.acknowledged(error));
      this.position += data.length;
    }
    if (ending && this.inFlight === 0 && this.pendingBytes === 0) this.drained?.();
  }

  private acknowledged(error: Error | undefined): void {
    this.inFlight--;
    if (this.destroyed) return;
    if (error) {
      this.destroy(error);
      return;
    }
    this.send(this.drained !== undefined);
    if (this.blocked && this.inFlight < this.maxInFlight) {
      const blocked = this.blocked;
      this.blocked = undefined;
      blocked();
    }
  }

  /** The next `length` pending bytes, copied only when they span several chunks. */
  private take(length: number): Buffer {
    this.pendingBytes -= length;
    const first = this.pending[0];
    if (first.length >= length) {
      if (first.length === length) this.pending.shift();
      else this.pending[0] = first.subarray(length);
      return first.subarray(0, length);
    }
    const data = Buffer.allocUnsafe(length);
    for (let filled = 0; filled < length;) {
      const chunk = this.pending[0];
      const used = Math.min(chunk.length, length - filled);
      chunk.copy(data, filled, 0, used);
      filled += used;
      if (used === chunk.length) this.pending.shift();
      else this.pending[0] = chunk.subarray(used);
    }
    return data;
  }
}
