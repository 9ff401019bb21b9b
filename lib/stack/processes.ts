import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../config/env';

/** A server process this project started; it is stopped by its PID and only by it. */
export interface ManagedProcess {
  name: string;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  runDir: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  stopSignal?: NodeJS.Signals;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** Sends the stop signal, waits for the process to exit, and kills it if it does not. */
export async function stopPid(pid: number, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, signal);
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(50);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  while (isAlive(pid)) await sleep(20);
}

const pidFile = (runDir: string, name: string) => path.join(runDir, `${name}.pid`);

/**
 * A PID file left by a crashed or interrupted run: stop the process it names when that process
 * is still ours (its command line matches), then forget the file.
 */
export async function reapStale(runDir: string, name: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const file = pidFile(runDir, name);
  if (!existsSync(file)) return;
  const { pid, command } = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; command: string };
  if (isAlive(pid) && commandLineOf(pid).startsWith(command)) await stopPid(pid, signal);
  rmSync(file, { force: true });
}

export async function startProcess(options: StartOptions): Promise<ManagedProcess> {
  const { name, command, args, runDir } = options;
  mkdirSync(runDir, { recursive: true });
  await reapStale(runDir, name, options.stopSignal);
  const logFile = path.join(runDir, `${name}.log`);
  const out = openSync(logFile, 'a');
  // Detached: its own process group, so a Ctrl-C reaches only us and we stop servers in order.
  const child = spawn(command, args, {
    detached: true,
    stdio: ['ignore', out, out],
    env: options.env ?? process.env,
    uid: options.uid,
    gid: options.gid,
  });
  closeSync(out);
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`could not start ${name} (${command}): ${error.message}`)));
    child.once('spawn', () => resolve(child.pid!));
  });
  child.unref();
  writeFileSync(pidFile(runDir, name), JSON.stringify({ pid, command }));
  return {
    name,
    pid,
    logFile,
    async stop() {
      await stopPid(pid, options.stopSignal);
      rmSync(pidFile(runDir, name), { force: true });
    },
  };
}

export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

export async function assertPortFree(port: number, what: string, envVar: string): Promise<void> {
  if (!(await isPortFree(port))) {
    throw new ConfigError(`port ${port} for ${what} is taken by another program: stop it, or set ${envVar} to a free port`);
  }
}

/** A port that is free right now, chosen by the kernel (for test stacks that must not clash). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls until `ready` says yes; on timeout or early exit, the error points at the log file. */
export async function waitUntilReady(
  proc: ManagedProcess,
  ready: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ready()) return;
    if (!isAlive(proc.pid)) break;
    await sleep(100);
  }
  const tail = existsSync(proc.logFile) ? readFileSync(proc.logFile, 'utf8').slice(-1500) : '';
  await proc.stop();
  throw new Error(`${proc.name} did not become ready (log: ${proc.logFile})\n${tail}`);
}
