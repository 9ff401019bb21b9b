import { ConfigError } from '../lib/config/env';

/** The last line of stdout is the machine-readable result. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export const say = (message: string): void => {
  process.stderr.write(`${message}\n`);
};

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows.map((row) => row.map((cell, i) => (cell ?? '').padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

/** Wraps a command: a configuration problem is one line and exit 2; anything else is one line and exit 1. */
export function action<A extends unknown[]>(run: (...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    try {
      process.exitCode = (await run(...args)) ?? 0;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`etl: ${message}\n`);
      if (process.env.ETL_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
      process.exitCode = error instanceof ConfigError ? 2 : 1;
    }
  };
}
