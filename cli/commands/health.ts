import { HeadBucketCommand } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { readFileSync } from 'node:fs';
import SftpClient from 'ssh2-sftp-client';
import type { EtlConfig } from '../../lib/config/env';
import { createPool, redactUrl } from '../../lib/io/postgres';
import { pipelines } from '../../lib/pipelines';
import { resolveSettings, type Settings } from '../../lib/config/settings';
import { connectClient } from '../../lib/temporal/connection';
import { scheduleDefinitions } from '../../schedules';
import { printJson, table } from '../output';
import { createS3Client } from '../../lib/io/s3';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** Something a pipeline relies on today; a failed optional check is shown but does not fail health. */
  required: boolean;
}

async function check(name: string, required: boolean, probe: () => Promise<string>): Promise<Check> {
  try {
    return { name, ok: true, detail: await probe(), required };
  } catch (error) {
    return { name, ok: false, detail: (error as Error).message.split('\n')[0], required };
  }
}

const ago = (date: Date) => {
  const minutes = Math.round((Date.now() - date.getTime()) / 60_000);
  return minutes < 120 ? `${minutes} min ago` : `${Math.round(minutes / 60)} h ago`;
};

async function databaseCheck(name: string, url: string): Promise<Check> {
  return check(name, true, async () => {
    const pool = createPool(url, 1);
    try {
      const { rows } = await pool.query('SELECT current_user AS u, version() AS v');
      return `${redactUrl(url)} as ${rows[0].u} (${String(rows[0].v).split(' ').slice(0, 2).join(' ')})`;
    } finally {
      await pool.end();
    }
  });
}

function storageChecks(settings: Settings): Promise<Check>[] {
  return [
    check('S3 bucket', false, async () => {
      const s3 = createS3Client(settings.s3);
      try {
        await s3.send(new HeadBucketCommand({ Bucket: settings.s3.bucket }));
        return `${settings.s3.endpoint}/${settings.s3.bucket}`;
      } finally {
        s3.destroy();
      }
    }),
    check('SFTP', false, async () => {
      const sftp = new SftpClient();
      try {
        await sftp.connect({ host: settings.sftp.host, port: settings.sftp.port, username: settings.sftp.user,
          password: settings.sftp.password, readyTimeout: 5000,
          privateKey: settings.sftp.privateKeyFile ? readFileSync(settings.sftp.privateKeyFile) : undefined });
        return `${settings.sftp.user}@${settings.sftp.host}:${settings.sftp.port} (home ${await sftp.cwd()})`;
      } finally {
        await sftp.end().catch(() => undefined);
      }
    }),
  ];
}

async function temporalChecks(client: Client, config: EtlConfig): Promise<Check[]> {
  const checks: Check[] = [];
  const { namespace } = client.options;
  for (const pipeline of pipelines) {
    checks.push(await check(`worker ${pipeline.taskQueue}`, true, async () => {
      const { pollers } = await client.workflowService.describeTaskQueue({
        namespace, taskQueue: { name: pipeline.taskQueue }, taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      });
      if (!pollers?.length) throw new Error(`no worker is polling task queue ${pipeline.taskQueue}: start one with \`npx etl worker\``);
      return `${pollers.length} poller(s), last seen ${ago(new Date(Number(pollers[0].lastAccessTime?.seconds ?? 0) * 1000))}`;
    }));
    // Any run, manual ones included, is shown; only a failed scheduled run (below) makes health fail.
    checks.push(await check(`last run ${pipeline.workflowType}`, false, async () => {
      for await (const run of client.workflow.list({ query: `WorkflowType = '${pipeline.workflowType}'`, pageSize: 1 })) {
        const outcome = run.status.name;
        const line = `${run.workflowId} ${outcome.toLowerCase()} ${ago(run.startTime)}`;
        if (outcome === 'FAILED' || outcome === 'TIMED_OUT') throw new Error(line);
        return line;
      }
      return 'no run yet';
    }));
  }
  for (const definition of scheduleDefinitions(config)) {
    checks.push(await check(`schedule ${definition.scheduleId}`, true, async () => {
      const described = await client.schedule.getHandle(definition.scheduleId).describe();
      const next = described.info.nextActionTimes[0];
      const last = described.info.recentActions.at(-1);
      if (last?.action.type === 'startWorkflow') {
        const lastRun = await client.workflow.getHandle(last.action.workflow.workflowId, last.action.workflow.firstExecutionRunId).describe();
        if (lastRun.status.name === 'FAILED' || lastRun.status.name === 'TIMED_OUT') {
          throw new Error(`last scheduled run ${lastRun.workflowId} ${lastRun.status.name.toLowerCase()} ${ago(lastRun.startTime)}`);
        }
      }
      const state = described.state.paused ? `paused${described.state.note ? ` (${described.state.note})` : ''}` : 'active';
      return `${state}, next run ${next ? next.toISOString() : 'none'}`;
    }));
  }
  return checks;
}

/** Is everything a user relies on up? Exit status 1 when a required check fails. */
export async function health(config: EtlConfig, options: { json?: boolean }): Promise<number> {
  const settings = resolveSettings(config);
  const checks: Check[] = [];
  let client: Client | undefined;
  checks.push(await check('Temporal', true, async () => {
    client = await connectClient(settings).catch((error: Error) => {
      throw new Error(`${settings.temporal.address}: ${error.message}`);
    });
    const info = await client.workflowService.getSystemInfo({});
    return `${settings.temporal.address} namespace ${settings.temporal.namespace} (server ${info.serverVersion || 'dev'})`;
  }));
  checks.push(await databaseCheck('target database', settings.postgres.databaseUrl));
  checks.push(await databaseCheck('source database', settings.postgres.sourceDatabaseUrl));
  checks.push(...(await Promise.all(storageChecks(settings))));
  if (client) {
    checks.push(...(await temporalChecks(client, config)));
    await client.connection.close();
  }
  const healthy = checks.every((c) => c.ok || !c.required);
  if (options.json) {
    printJson({ healthy, checks });
  } else {
    process.stdout.write(`${table(checks.map((c) => [c.ok ? 'ok' : c.required ? 'FAIL' : 'warn', c.name, c.detail]))}\n`);
    process.stdout.write(healthy ? 'healthy\n' : 'UNHEALTHY\n');
  }
  return healthy ? 0 : 1;
}
