import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { ConfigError, type EtlConfig } from '../../lib/config/env';
import { RERUN_OF } from '../../lib/workflow/search-attributes';
import { resolveSettings } from '../../lib/config/settings';
import { cliTrigger, connectClient } from '../../lib/temporal/connection';
import { startAndFollow } from './run';

/**
 * Starts a finished run (usually a failed one, once its cause is fixed) again: same workflow, task queue and
 * input, under the id `<id>-rerun-<n>`, linked to the original by memo and the EtlRerunOf search attribute.
 * The activities are idempotent, so work the first run committed (loaded rows, delivered files, stored
 * messages) is found and not done again.
 */
export async function rerun(config: EtlConfig, workflowId: string, options: { runId?: string; wait: boolean }): Promise<number> {
  const settings = resolveSettings(config);
  const client = await connectClient(settings, { triggeredBy: cliTrigger() });
  try {
    const original = client.workflow.getHandle(workflowId, options.runId);
    const description = await original.describe().catch((error: unknown) => {
      if (error instanceof WorkflowNotFoundError) throw new ConfigError(`there is no workflow ${workflowId}${options.runId ? ` with run ${options.runId}` : ''}`);
      throw error;
    });
    if (description.status.name === 'RUNNING') {
      throw new ConfigError(`${workflowId} is still running: wait for it, or cancel it in the Web UI first`);
    }
    const history = await original.fetchHistory();
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    if (!started?.taskQueue?.name) throw new Error(`the history of ${workflowId} has no start event`);
    const args = await decodeArrayFromPayloads(client.options.loadedDataConverter, started.input?.payloads);
    const rerunId = await nextRerunId(client, workflowId);
    return await startAndFollow(client, settings, description.type, {
      taskQueue: started.taskQueue.name,
      workflowId: rerunId,
      args,
      memo: { rerunOf: { workflowId, runId: description.runId, status: description.status.name.toLowerCase() } },
      typedSearchAttributes: [{ key: RERUN_OF, value: workflowId }],
    }, options.wait);
  } finally {
    await client.connection.close();
  }
}

/** `sync-1` -> `sync-1-rerun-1`; rerunning `sync-1-rerun-1` gives `sync-1-rerun-2`. */
async function nextRerunId(client: Client, workflowId: string): Promise<string> {
  const base = workflowId.replace(/-rerun-\d+$/, '');
  for (let n = 1; ; n++) {
    const candidate = `${base}-rerun-${n}`;
    const exists = await client.workflow.getHandle(candidate).describe().then(() => true, (error: unknown) => {
      if (error instanceof WorkflowNotFoundError) return false;
      throw error;
    });
    if (!exists) return candidate;
  }
}
