import { readFileSync } from 'node:fs';
import { Worker } from '@temporalio/worker';
import { ConfigError, type EtlConfig } from '../../lib/config';
import { resolveSettings } from '../../lib/settings';
import { connectClient, dataConverter } from '../../lib/temporal';
import { say } from '../output';

/**
 * Replays a recorded history against the workflow code of this checkout: a change that would break
 * running workflows (nondeterminism) fails here, naming the workflow and what differed.
 */
export async function replay(config: EtlConfig, options: { workflowId?: string; history?: string }): Promise<number> {
  if (Boolean(options.workflowId) === Boolean(options.history)) {
    throw new ConfigError('give either --workflow-id <id> or --history <file.json>');
  }
  const settings = resolveSettings(config);
  let history: unknown;
  let label: string;
  if (options.history) {
    label = options.history;
    try {
      history = JSON.parse(readFileSync(options.history, 'utf8'));
    } catch (error) {
      throw new ConfigError(`cannot read history ${options.history}: ${(error as Error).message}`);
    }
  } else {
    label = options.workflowId!;
    const client = await connectClient(settings);
    try {
      history = await client.workflow.getHandle(options.workflowId!).fetchHistory();
    } finally {
      await client.connection.close();
    }
  }
  try {
    // Encrypted histories replay only through the codec that wrote them.
    await Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows'), dataConverter: dataConverter(settings) }, history, label);
    say(`${label}: replayed with the current workflow code, deterministic`);
    return 0;
  } catch (error) {
    say(`${label}: replay FAILED: ${(error as Error).message}`);
    return 1;
  }
}
