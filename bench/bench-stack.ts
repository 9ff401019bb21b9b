// What every benchmark starts from: an embedded stack of its own, on free loopback ports, under
// .data/<folder>, whatever servers the shell's environment points at.
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { loadConfig, projectRoot } from '../lib/config/env';
import { withoutServerVariables } from '../lib/config/settings';
import { startStack, type Stack } from '../lib/stack';
import { freePortsEnv } from '../lib/stack/ports';
import { failureConverterPath } from '../lib/temporal/connection';

export async function startBenchStack(folder: string): Promise<Stack> {
  const config = loadConfig({
    ...withoutServerVariables(process.env),
    ETL_DATA_DIR: path.join(projectRoot, '.data', folder),
    ...(await freePortsEnv()),
  });
  return startStack(config, { onStep: (m) => console.error(`# ${m}`) });
}

const silent = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: console.error };

/**
 * The workflows bundled once for the benchmark's worker, without the bundler's progress output. The bench stack
 * always has a payload key (the embedded stack makes one), so failures are encoded inside workflows as well.
 */
export const bundleWorkflows = () => bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: silent, failureConverterPath });
