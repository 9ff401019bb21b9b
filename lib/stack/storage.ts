import { mkdirSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { utils } from 'ssh2';
import { canConnect, startProcess, waitUntilReady, type ManagedProcess } from './processes';

export const EMBEDDED_S3_KEY = 'etl-local-key';
export const EMBEDDED_S3_SECRET = 'etl-local-secret';
export const EMBEDDED_SFTP_USER = 'etl';

/** rclone needs a config file path even when every remote is given on the command line. */
function rcloneEnv(dataDir: string): NodeJS.ProcessEnv {
  const config = path.join(dataDir, 'rclone.conf');
  if (!existsSync(config)) writeFileSync(config, '');
  return { ...process.env, RCLONE_CONFIG: config };
}

/** A local S3-compatible endpoint: every folder under `root` is a bucket. */
export async function startS3Server(options: {
  rclone: string; dataDir: string; runDir: string; port: number; bucket: string;
}): Promise<ManagedProcess> {
  const root = path.join(options.dataDir, 's3');
  mkdirSync(path.join(root, options.bucket), { recursive: true });
  const proc = await startProcess({
    name: 's3',
    command: options.rclone,
    args: ['serve', 's3', root, '--addr', `127.0.0.1:${options.port}`,
      '--auth-key', `${EMBEDDED_S3_KEY},${EMBEDDED_S3_SECRET}`, '--log-level', 'NOTICE'],
    runDir: options.runDir,
    env: rcloneEnv(options.dataDir),
  });
  await waitUntilReady(proc, () => canConnect(options.port));
  return proc;
}

interface SftpKeys {
  privateKeyFile: string;
  authorizedKeysFile: string;
  hostKeyFile: string;
}

/** An OpenSSH ed25519 public key: the length-prefixed name "ssh-ed25519", then the length-prefixed 32-byte key. */
const ED25519_PUBLIC_BLOB_LENGTH = 4 + 'ssh-ed25519'.length + 4 + 32;

/**
 * ssh2's ed25519 generator strips leading zero bytes from the public key, so about one key in
 * 256 comes out 31 bytes long and rclone (Go) rejects it; such keys are drawn again.
 */
export function generateEd25519KeyPair(comment?: string): { private: string; public: string } {
  for (;;) {
    const pair = utils.generateKeyPairSync('ed25519', comment ? { comment } : {});
    const parsed = utils.parseKey(pair.public);
    if (!(parsed instanceof Error) && parsed.getPublicSSH().length === ED25519_PUBLIC_BLOB_LENGTH) return pair;
  }
}

/** The SFTP user's key pair and the server's host key, made once and kept under the data folder. */
function ensureKeys(dir: string): SftpKeys {
  mkdirSync(dir, { recursive: true });
  const keys = {
    privateKeyFile: path.join(dir, 'etl_user_ed25519'),
    authorizedKeysFile: path.join(dir, 'authorized_keys'),
    hostKeyFile: path.join(dir, 'host_ed25519'),
  };
  if (!existsSync(keys.privateKeyFile)) {
    const user = generateEd25519KeyPair('etl embedded sftp user');
    writeFileSync(keys.privateKeyFile, user.private, { mode: 0o600 });
    writeFileSync(keys.authorizedKeysFile, `${user.public}\n`);
  }
  if (!existsSync(keys.hostKeyFile)) {
    writeFileSync(keys.hostKeyFile, generateEd25519KeyPair().private, { mode: 0o600 });
  }
  chmodSync(keys.privateKeyFile, 0o600);
  return keys;
}

/** A local SFTP server: user `etl`, key auth only, home folder under the data folder. */
export async function startSftpServer(options: {
  rclone: string; dataDir: string; runDir: string; port: number;
}): Promise<ManagedProcess> {
  const home = path.join(options.dataDir, 'sftp');
  mkdirSync(home, { recursive: true });
  const keys = ensureKeys(path.join(options.dataDir, 'keys'));
  const proc = await startProcess({
    name: 'sftp',
    command: options.rclone,
    args: ['serve', 'sftp', home, '--addr', `127.0.0.1:${options.port}`, '--user', EMBEDDED_SFTP_USER,
      '--authorized-keys', keys.authorizedKeysFile, '--key', keys.hostKeyFile, '--log-level', 'NOTICE'],
    runDir: options.runDir,
    env: rcloneEnv(options.dataDir),
  });
  await waitUntilReady(proc, () => canConnect(options.port));
  return proc;
}
