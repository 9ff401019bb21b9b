// Builds the workflow bundle ahead of time (the worker image does, at build time): `node --import tsx
// workers/bundle.ts <file>`; a worker started with ETL_WORKFLOW_BUNDLE=<file> loads it instead of bundling at start.
// The bundle carries the failure converter that moves failure messages into payloads: with ETL_CODEC_KEYS set they
// are encrypted, without keys they stay readable as before.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { failureConverterPath } from '../lib/temporal/connection';
import { quietBundlerLogger } from '../lib/temporal/logging';

async function main(out: string | undefined): Promise<void> {
  if (!out) throw new Error('usage: node --import tsx workers/bundle.ts <output file>');
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), failureConverterPath, logger: quietBundlerLogger });
  mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  writeFileSync(out, code);
  process.stdout.write(`workflow bundle written to ${out} (${(code.length / 1024).toFixed(0)} KiB)\n`);
}

main(process.argv[2]).catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
