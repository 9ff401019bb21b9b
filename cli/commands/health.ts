import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { ScheduleNotFoundError, type Client, type ScheduleDescription } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { readFileSync } from 'node:fs';
import SftpClient from 'ssh2-sftp-client';
import type pg from 'pg';
import { ConfigError, type EtlConfig } from '../../lib/config/env';
import { createPool, redactUrl } from '../../lib/io/postgres';
import { pipelines, type PipelineInfo } from '../../lib/pipelines';
import { resolveSettings, type Settings } from '../../lib/config/settings';
import { connectClient } from '../../lib/temporal/connection';
import { successDueSince } from '../../schedules/slots';
import { viewOfServer } from '../../schedules/schedule-view';
import { printJson, table } from '../output';
import { createS3Client } from '../../lib/io/s3';

/**
 * `etl health`: are the servers up, and is each pipeline doing its job? Exit status as monitoring probes
 * (Nagios, Icinga, Sensu, Zabbix agents) read it: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the configuration
 * cannot be read).
 */
export const HEALTH_EXIT = { ok: 0, warning: 1, critical: 2, unknown: 3 } as const;

/** A failed `required` check is CRITICAL; a failed optional one is a WARNING. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  required: boolean;
  /** The pipeline (CLI name) the check is about; none for the servers. */
  pipeline?: string;
}

const DAY_MS = 24 * 3600_000;

class Warning extends Error {}

async function check(name: string, required: boolean, probe: () => Promise<string>, pipeline?: string): Promise<Check> {
  try {
    return { name, ok: true, detail: await probe(), required, pipeline };
  } catch (error) {
    const detail = (error as Error).message.split('\n')[0];
    return { name, ok: false, detail, required: required && !(error instanceof Warning), pipeline };
  }
}

const age = (from: Date, now = Date.now()) => {
  const minutes = Math.round((now - from.getTime()) / 60_000);
  return minutes < 120 ? `${minutes} min` : minutes < 72 * 60 ? `${Math.round(minutes / 60)} h` : `${Math.round(minutes / 1440)} d`;
};
const ago = (date: Date, now = new Date()) => `${age(date, now.getTime())} ago`;

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

interface QueueState {
  taskQueue: string;
  workflowPollers: number;
  activityPollers: number;
  /** Tasks waiting for a worker (workflow + activity), and how long the oldest has waited. */
  backlog: number;
  backlogAgeSeconds: number;
}

async function describeQueue(client: Client, taskQueue: string, workflowTasks: boolean): Promise<QueueState> {
  const { namespace } = client.options;
  const { TASK_QUEUE_TYPE_WORKFLOW, TASK_QUEUE_TYPE_ACTIVITY } = temporal.api.enums.v1.TaskQueueType;
  const describe = (taskQueueType: temporal.api.enums.v1.TaskQueueType) =>
    client.workflowService.describeTaskQueue({ namespace, taskQueue: { name: taskQueue }, taskQueueType, reportStats: true });
  const [workflow, activity] = await Promise.all([workflowTasks ? describe(TASK_QUEUE_TYPE_WORKFLOW) : undefined, describe(TASK_QUEUE_TYPE_ACTIVITY)]);
  const backlogOf = (r?: typeof activity) => Number(r?.stats?.approximateBacklogCount ?? 0);
  const ageOf = (r?: typeof activity) => Number(r?.stats?.approximateBacklogAge?.seconds ?? 0);
  return {
    taskQueue,
    workflowPollers: workflow?.pollers?.length ?? 0,
    activityPollers: activity.pollers?.length ?? 0,
    backlog: backlogOf(workflow) + backlogOf(activity),
    backlogAgeSeconds: Math.max(ageOf(workflow), ageOf(activity)),
  };
}

interface PipelineHealth {
  pipeline: string;
  workflowType: string;
  status: 'ok' | 'warning' | 'critical';
  lastSuccess?: { workflowId: string; closedAt: string; ageSeconds: number };
  /** A success is expected for every slot of an active schedule before this (the latest slot an hour gone). */
  successExpectedSince?: string;
  failedLast24h: { temporal: number; etlControl: number };
  schedule?: { scheduleId: string; state: string; note?: string; lastAction?: { workflowId: string; status: string } };
  queues: QueueState[];
  tables?: TableHealth[];
}

interface TableHealth {
  sourceTable: string;
  targetTable: string;
  lastSuccessAt: string | null;
  ageSeconds: number | null;
  watermark: string | null;
  failedLast24h: number;
  /** The table the schedule syncs: its last success is held to the schedule's slots. */
  scheduled: boolean;
}

const dueSince = (description: ScheduleDescription, timeZone: string, now: Date) => successDueSince({ paused: description.state.paused,
  cron: viewOfServer(description).cron, timeZone: description.spec.timezone ?? timeZone, createdAt: description.info.createdAt }, now);

async function lastSuccess(client: Client, workflowType: string) {
  let latest: { workflowId: string; closedAt: Date } | undefined;
  const query = `WorkflowType = '${workflowType}' AND ExecutionStatus = 'Completed'`;
  for await (const run of client.workflow.list({ query, pageSize: 20 })) {
    if (run.closeTime && (!latest || run.closeTime > latest.closedAt)) latest = { workflowId: run.workflowId, closedAt: run.closeTime };
    if (latest && run.startTime < new Date(latest.closedAt.getTime() - 7 * DAY_MS)) break;
  }
  return latest;
}

/**
 * The last success against the schedule: `expected` is the slot whose run should have succeeded by now (undefined:
 * none due). A scheduled run starts at its slot, so a success that closed before the slot is an older one: CRITICAL.
 */
export function judgeLastSuccess(success: { workflowId: string; closedAt: Date } | undefined, expected: Date | undefined, scheduleId: string, now: Date): string {
  const line = success ? `${success.workflowId} ${ago(success.closedAt, now)}` : 'no successful run yet';
  if (expected && (!success || success.closedAt < expected)) {
    throw new Error(`${line}; the run due at ${expected.toISOString()} (schedule ${scheduleId}) has not succeeded`);
  }
  return `${line}${expected ? ' (on schedule)' : ''}`;
}

/** Per pipeline: workers and backlog of its task queues, its schedule, its last success against the schedule, its failures. */
async function pipelineHealth(client: Client, pool: pg.Pool | undefined, pipeline: PipelineInfo, config: EtlConfig): Promise<{ checks: Check[]; health: PipelineHealth }> {
  const now = new Date();
  const checks: Check[] = [];
  const health: PipelineHealth = { pipeline: pipeline.name, workflowType: pipeline.workflowType, status: 'ok', failedLast24h: { temporal: 0, etlControl: 0 }, queues: [] };
  const add = async (name: string, required: boolean, probe: () => Promise<string>) => checks.push(await check(name, required, probe, pipeline.name));

  const queues = [[pipeline.taskQueue, true] as const, ...(pipeline.throttledQueue ? [[pipeline.throttledQueue.taskQueue(pipeline.taskQueue), false] as const] : [])];
  for (const [taskQueue, workflowTasks] of queues) {
    await add(`worker ${taskQueue}`, true, async () => {
      const state = await describeQueue(client, taskQueue, workflowTasks);
      health.queues.push(state);
      if (workflowTasks && state.workflowPollers === 0) throw new Error(`no worker is polling task queue ${taskQueue}: start one with \`npx etl worker\``);
      if (state.activityPollers === 0) throw new Error(`no worker runs activities of task queue ${taskQueue}: start one with \`npx etl worker\``);
      const backlog = state.backlog > 0 ? `, backlog ${state.backlog} task(s), oldest ${state.backlogAgeSeconds} s` : ', no backlog';
      if (state.backlogAgeSeconds > 600) throw new Warning(`backlog of ${state.backlog} task(s), the oldest waiting ${Math.round(state.backlogAgeSeconds / 60)} min: the workers are behind`);
      return `${workflowTasks ? `${state.workflowPollers} workflow and ` : ''}${state.activityPollers} activity poller(s)${backlog}`;
    });
  }

  const scheduleId = pipeline.schedule(config).scheduleId;
  let description: ScheduleDescription | undefined;
  await add(`schedule ${scheduleId}`, true, async () => {
    try {
      description = await client.schedule.getHandle(scheduleId).describe();
    } catch (error) {
      if (error instanceof ScheduleNotFoundError) throw new Warning('not on the server: run `npx etl schedules apply`');
      throw error;
    }
    const state = description.state.paused ? 'paused' : 'active';
    health.schedule = { scheduleId, state, note: description.state.note };
    const last = description.info.recentActions.at(-1);
    if (last?.action.type === 'startWorkflow') {
      const { workflowId, firstExecutionRunId } = last.action.workflow;
      const run = await client.workflow.getHandle(workflowId, firstExecutionRunId).describe();
      health.schedule.lastAction = { workflowId, status: run.status.name.toLowerCase() };
      if (run.status.name === 'FAILED' || run.status.name === 'TIMED_OUT') {
        throw new Error(`last scheduled run ${workflowId} ${run.status.name.toLowerCase()} ${ago(run.closeTime ?? run.startTime)}`);
      }
    }
    if (description.state.paused) throw new Warning(`paused${description.state.note ? `: ${description.state.note}` : ''}`);
    const next = description.info.nextActionTimes[0];
    return `active, next run ${next ? next.toISOString() : 'none'}${health.schedule.lastAction ? `, last run ${health.schedule.lastAction.status}` : ''}`;
  });

  await add(`last success ${pipeline.workflowType}`, true, async () => {
    const success = await lastSuccess(client, pipeline.workflowType);
    if (success) {
      health.lastSuccess = { workflowId: success.workflowId, closedAt: success.closedAt.toISOString(), ageSeconds: Math.round((now.getTime() - success.closedAt.getTime()) / 1000) };
    }
    const expected = description && dueSince(description, config.ETL_TIMEZONE, now);
    if (expected) health.successExpectedSince = expected.toISOString();
    return judgeLastSuccess(success, expected, scheduleId, now);
  });

  await add(`failures ${pipeline.workflowType}`, false, async () => {
    const since = new Date(now.getTime() - DAY_MS).toISOString();
    const { count } = await client.workflow.count(
      `WorkflowType = '${pipeline.workflowType}' AND ExecutionStatus IN ('Failed', 'TimedOut') AND CloseTime > '${since}'`);
    health.failedLast24h.temporal = count;
    if (pool) {
      const { rows } = await pool.query<{ failed: string }>(
        `SELECT count(*) AS failed FROM etl_control WHERE pipeline = $1 AND status = 'failed' AND started_at > now() - interval '24 hours'`,
        [pipeline.workflowType]);
      health.failedLast24h.etlControl = Number(rows[0].failed);
    }
    const line = `${count} failed run(s) in 24 h${pool ? `; etl_control: ${health.failedLast24h.etlControl} failed` : ''}`;
    if (count > 0 || health.failedLast24h.etlControl > 0) throw new Warning(line);
    return line;
  });

  if (pool && pipeline.name === 'incremental-sync') checks.push(...(await tableChecks(pool, pipeline, health, description, config, now)));

  health.status = checks.some((c) => !c.ok && c.required) ? 'critical' : checks.some((c) => !c.ok) ? 'warning' : 'ok';
  return { checks, health };
}

/** incrementalSync's tables in etl_control: last success and its age, failures in 24 h, the watermark; the scheduled one against its slots. */
export async function tableChecks(pool: pg.Pool, pipeline: PipelineInfo, health: PipelineHealth, description: ScheduleDescription | undefined,
  config: EtlConfig, now: Date): Promise<Check[]> {
  const { rows } = await pool.query<{ source_table: string; target_table: string; last_success: Date | null; watermark: Date | null; failed: string }>(
    `SELECT source_table, target_table,
            max(finished_at) FILTER (WHERE status = 'success') AS last_success,
            max(watermark) FILTER (WHERE status = 'success') AS watermark,
            count(*) FILTER (WHERE status = 'failed' AND started_at > now() - interval '24 hours') AS failed
       FROM etl_control WHERE pipeline = $1 GROUP BY source_table, target_table ORDER BY source_table, target_table`,
    [pipeline.workflowType]);
  const input = description?.action.type === 'startWorkflow' ? (description.action.args?.[0] ?? {}) as { sourceTable?: string; targetTable?: string } : {};
  const scheduledSource = input.sourceTable ?? 'public.conversations';
  const scheduledTarget = input.targetTable ?? scheduledSource;
  const expected = description && dueSince(description, config.ETL_TIMEZONE, now);
  health.tables = rows.map((row) => ({
    sourceTable: row.source_table, targetTable: row.target_table,
    lastSuccessAt: row.last_success?.toISOString() ?? null,
    ageSeconds: row.last_success ? Math.round((now.getTime() - row.last_success.getTime()) / 1000) : null,
    watermark: row.watermark?.toISOString() ?? null,
    failedLast24h: Number(row.failed),
    scheduled: row.source_table === scheduledSource && row.target_table === scheduledTarget,
  }));
  return Promise.all(health.tables.map((t) => check(`table ${t.sourceTable} -> ${t.targetTable}`, t.scheduled, async () => {
    const line = `${t.lastSuccessAt ? `last success ${ago(new Date(t.lastSuccessAt))}` : 'no success yet'}, `
      + `watermark ${t.watermark ?? 'none'}, ${t.failedLast24h} failed in 24 h`;
    if (t.scheduled && expected && (!t.lastSuccessAt || new Date(t.lastSuccessAt) < expected)) {
      throw new Error(`${line}: the watermark is older than the schedule allows (no success since the run due at ${expected.toISOString()})`);
    }
    if (t.failedLast24h > 0) throw new Warning(line);
    return line;
  }, pipeline.name)));
}

/** Is everything a user relies on up, and is each pipeline doing its job? See HEALTH_EXIT. */
export async function health(readConfig: () => EtlConfig, options: { json?: boolean }): Promise<number> {
  let config: EtlConfig;
  try {
    config = readConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`etl: ${error.message}\n`);
    return HEALTH_EXIT.unknown;
  }
  const settings = resolveSettings(config);
  const checks: Check[] = [];
  const pipelineStates: PipelineHealth[] = [];
  let client: Client | undefined;
  checks.push(await check('Temporal', true, async () => {
    client = await connectClient(settings).catch((error: Error) => {
      throw new Error(`${settings.temporal.address}: ${error.message}`);
    });
    const info = await client.workflowService.getSystemInfo({});
    return `${settings.temporal.address} namespace ${settings.temporal.namespace} (server ${info.serverVersion || 'dev'})`;
  }));
  const target = await databaseCheck('target database', settings.postgres.databaseUrl);
  checks.push(target);
  checks.push(await databaseCheck('source database', settings.postgres.sourceDatabaseUrl));
  checks.push(...(await Promise.all(storageChecks(settings))));
  const pool = target.ok ? createPool(settings.postgres.databaseUrl, 1) : undefined;
  try {
    // etl_control exists once a worker has migrated the database.
    const hasControl = pool ? Boolean((await pool.query('SELECT to_regclass(\'etl_control\') AS t')).rows[0].t) : false;
    if (client) {
      for (const pipeline of pipelines) {
        const { checks: more, health: state } = await pipelineHealth(client, hasControl ? pool : undefined, pipeline, config);
        checks.push(...more);
        pipelineStates.push(state);
      }
    }
  } finally {
    await pool?.end();
    await (client as Client | undefined)?.connection.close();
  }
  const critical = checks.some((c) => !c.ok && c.required);
  const status = critical ? 'critical' : checks.some((c) => !c.ok) ? 'warning' : 'ok';
  if (options.json) {
    printJson({ healthy: !critical, status, checks, pipelines: pipelineStates });
  } else {
    process.stdout.write(`${table(checks.map((c) => [c.ok ? 'ok' : c.required ? 'FAIL' : 'warn', c.name, c.detail]))}\n`);
    process.stdout.write(critical ? 'UNHEALTHY\n' : status === 'warning' ? 'healthy, with warnings\n' : 'healthy\n');
  }
  return HEALTH_EXIT[status];
}
