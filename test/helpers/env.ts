// What every test file shares: the stack that test/global-setup.ts started (read from the environment, like a user's
// configuration), real database pools, and a worker on a task queue of the file's own.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, WorkflowStartOptions } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { loadConfig } from '../../lib/config/env';
import { createPool } from '../../lib/io/postgres';
import { installWorkerLogging } from '../../lib/temporal/logging';
import { migrate } from '../../lib/io/migrate';
import { resolveSettings, type Settings } from '../../lib/config/settings';
import { connectClient } from '../../lib/temporal/connection';
import { startWorkers, type RunningWorkers } from '../../workers';

if (!process.env.ETL_TEST_WORKFLOW_BUNDLE) {
  throw new Error('run the tests with `npm test` (jest\'s globalSetup, test/global-setup.ts, starts the servers they need)');
}

// Expected failures (429s, bad keys, broken campaigns) would fill the output with stacks; assertions check them.
installWorkerLogging('ERROR');

export const settings = resolveSettings(loadConfig());
export const workflowBundle = { codePath: process.env.ETL_TEST_WORKFLOW_BUNDLE };

export interface TestContext {
  client: Client;
  taskQueue: string;
  workers: RunningWorkers;
  target: ReturnType<typeof createPool>;
  sourceAdmin: ReturnType<typeof createPool>;
  close(): Promise<void>;
}

export async function openTestContext(
  name: string,
  options: { worker?: boolean; settings?: Settings } = {},
): Promise<TestContext> {
  const taskQueue = `test-${name}-${randomUUID().slice(0, 8)}`;
  const workers = options.worker === false
    ? undefined
    : await startWorkers(options.settings ?? settings, { workflowBundle, taskQueue, tuning: { shutdownGraceTime: '1s' } });
  const client = await connectClient(settings);
  const target = createPool(settings.postgres.databaseUrl);
  const sourceAdmin = createPool(settings.postgres.sourceAdminUrl);
  await migrate(target);
  return {
    client,
    taskQueue,
    workers: workers!,
    target,
    sourceAdmin,
    async close() {
      await workers?.shutdown();
      await client.connection.close();
      await Promise.all([target.end(), sourceAdmin.end()]);
    },
  };
}

export const uniqueId = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;

export function startOptions(ctx: TestContext, prefix: string): Pick<WorkflowStartOptions, 'taskQueue' | 'workflowId'> {
  return { taskQueue: ctx.taskQueue, workflowId: uniqueId(prefix) };
}

/**
 * A new namespace on the test server, once the server answers for it. Where no worker has ever polled and no schedule
 * exists: in the shared namespace, other test files run workers on the pipelines' own task queues (`etl worker` in the
 * crash tests, the CLI tests), and the server lists a poller for minutes after it stopped, so what a test finds there
 * depends on which files ran before.
 */
export async function newNamespace(client: Client, prefix: string): Promise<string> {
  const namespace = uniqueId(prefix);
  await client.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
  for (let attempt = 1; ; attempt++) {
    try {
      await client.workflowService.describeTaskQueue({ namespace, taskQueue: { name: 'etl-incremental-sync' },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW });
      return namespace;
    } catch (error) {
      // A namespace just registered is known to the server's caches within seconds.
      if (attempt >= 60) throw error;
      await sleep(500);
    }
  }
}
