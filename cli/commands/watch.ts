// `etl watch start|stop|status --prefix <p>`: the salesWarehouse lake watcher (workflow salesLakeWatcher), one per
// prefix under the id sales-lake-watcher-<prefix>. The same from the Web UI: Start Workflow with type salesLakeWatcher,
// task queue etl-sales-warehouse and the input JSON; stop it with the signal `stop` (or Cancel).
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { ConfigError, type EtlConfig } from '../../lib/config/env';
import { lakeWatcherInputSchema, type LakeWatcherProgress, watcherId } from '../../lib/contracts/sales-warehouse-watcher';
import { findPipeline } from '../../lib/pipelines';
import { resolveSettings } from '../../lib/config/settings';
import { connectClient, webUiLink } from '../../lib/temporal/connection';
import { describeIssues } from '../../lib/workflow/validation';
import { printJson, say } from '../output';
import { parseInput } from './run';

export interface WatchOptions {
  prefix: string;
  pollSeconds?: number;
  input?: string;
}

async function withClient<T>(config: EtlConfig, work: (client: Awaited<ReturnType<typeof connectClient>>, settings: ReturnType<typeof resolveSettings>) => Promise<T>): Promise<T> {
  const settings = resolveSettings(config);
  const client = await connectClient(settings);
  try {
    return await work(client, settings);
  } finally {
    await client.connection.close();
  }
}

export async function watchStart(config: EtlConfig, options: WatchOptions): Promise<number> {
  const extra = parseInput(options.input) as Record<string, unknown>;
  const input = { ...extra, prefix: options.prefix, ...(options.pollSeconds ? { pollSeconds: options.pollSeconds } : {}) };
  const checked = lakeWatcherInputSchema.safeParse(input);
  if (!checked.success) throw new ConfigError(describeIssues('watcher input', checked.error));
  return withClient(config, async (client, settings) => {
    const workflowId = watcherId(options.prefix);
    try {
      const handle = await client.workflow.start('salesLakeWatcher', { taskQueue: findPipeline('sales-warehouse').taskQueue, workflowId, args: [input] });
      const url = webUiLink(settings, workflowId, handle.firstExecutionRunId);
      say(`watching s3://${settings.s3.bucket}/${options.prefix} every ${checked.data.pollSeconds} s: ${workflowId}${url ? ` (${url})` : ''}`);
      printJson({ workflowId, runId: handle.firstExecutionRunId, url });
      return 0;
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) throw new ConfigError(`a watcher of ${options.prefix} is already running (${workflowId}); stop it first`);
      throw error;
    }
  });
}

export async function watchStop(config: EtlConfig, options: { prefix: string }): Promise<number> {
  return withClient(config, async (client) => {
    const handle = client.workflow.getHandle(watcherId(options.prefix));
    try {
      await handle.signal('stop');
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) throw new ConfigError(`no watcher of ${options.prefix} is running (${handle.workflowId})`);
      throw error;
    }
    const result = await handle.result();
    say(`stopped ${handle.workflowId}`);
    printJson(result);
    return 0;
  });
}

export async function watchStatus(config: EtlConfig, options: { prefix: string }): Promise<number> {
  return withClient(config, async (client) => {
    const handle = client.workflow.getHandle(watcherId(options.prefix));
    const description = await handle.describe().catch((error: unknown) => {
      if (error instanceof WorkflowNotFoundError) throw new ConfigError(`there is no watcher of ${options.prefix} (${handle.workflowId})`);
      throw error;
    });
    const progress = description.status.name === 'RUNNING' ? await handle.query<LakeWatcherProgress>('progress') : undefined;
    printJson({ workflowId: handle.workflowId, status: description.status.name.toLowerCase(), ...progress });
    return 0;
  });
}
