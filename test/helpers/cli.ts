import { spawn } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../lib/config/env';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The last line of stdout parsed as JSON, where the CLI puts its result. */
  json: unknown;
}

/** Runs `etl <args>` as a user would, with the test stack's environment plus `env`. */
export function etl(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(projectRoot, 'bin/etl.js'), ...args], {
      env: { ...process.env, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').at(-1) ?? '';
      let json: unknown;
      try {
        json = JSON.parse(last);
      } catch {
        json = undefined;
      }
      resolve({ code: code ?? 1, stdout, stderr, json });
    });
  });
}
