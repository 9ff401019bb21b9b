import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleDescription } from '@temporalio/client';
import { ConfigError, type EtlConfig } from '../../lib/config/env';
import { resolveSettings } from '../../lib/config/settings';
import { connectClient } from '../../lib/temporal/connection';
import { instantOfWallClock, zonedTime } from '../../lib/workflow/zoned-time';
import { applySchedules, planSchedules, scheduleDefinitions, type AppliedSchedule } from '../../schedules';
import { viewOfServer } from '../../schedules/schedule-view';
import { printJson, say, table } from '../output';

// One small function per schedule operation; each prints a readable report and ends with one JSON line.

async function withClient<T>(config: EtlConfig, run: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectClient(resolveSettings(config));
  try {
    return await run(client);
  } finally {
    await client.connection.close();
  }
}

/** One line per schedule, then what changed, what was kept and what conflicts; exit 1 while a conflict remains. */
export function reportApplied(applied: AppliedSchedule[], print: (line: string) => void = say): boolean {
  for (const { scheduleId, change, diff, kept, conflicts, forced } of applied) {
    print(`${scheduleId}: ${change}`);
    for (const { field, from, to } of diff) print(`  ${field}: ${from} -> ${to}`);
    for (const { field, server } of kept) print(`  ${field}: kept ${server} (changed on the server, not in the code)`);
    if (!forced) for (const { field, code, server } of conflicts) print(`  ${field}: CONFLICT, kept ${server}; the code says ${code}`);
  }
  const unresolved = applied.filter((a) => a.conflicts.length > 0 && !a.forced);
  if (unresolved.length > 0) {
    print(`conflicts in ${unresolved.map((a) => a.scheduleId).join(', ')}: see \`etl schedules diff\`; \`etl schedules apply --force\` takes the code's side`);
  }
  return unresolved.length === 0;
}

export const applySchedulesCommand = (config: EtlConfig, options: { force?: boolean } = {}) => withClient(config, async (client) => {
  const applied = await applySchedules(client, config, options);
  const clean = reportApplied(applied);
  printJson(applied);
  return clean ? 0 : 1;
});

/**
 * What `apply` would do, field by field, three ways: the code now, what the code last applied (the schedule's memo)
 * and the server now. Exit 1 when a conflict needs a person: apply keeps the server's side unless --force.
 */
export const diffSchedules = (config: EtlConfig) => withClient(config, async (client) => {
  const plans = await planSchedules(client, config);
  const rows: string[][] = [['schedule', 'field', 'code', 'last applied', 'server', 'apply']];
  for (const plan of plans) {
    if (!plan.exists) rows.push([plan.scheduleId, '', '', '', '(missing)', 'creates it']);
    const lastApplied = (value: string) => (plan.unrecorded ? '(no record)' : value);
    for (const c of plan.changes) rows.push([plan.scheduleId, c.field, c.to, lastApplied(c.from), c.from, 'takes the code\'s']);
    for (const k of plan.kept) rows.push([plan.scheduleId, k.field, k.code, lastApplied(k.code), k.server, 'keeps the server\'s (operator change)']);
    for (const c of plan.conflicts) rows.push([plan.scheduleId, c.field, c.code, c.lastApplied, c.server, 'CONFLICT: keeps the server\'s; --force takes the code\'s']);
  }
  say(rows.length > 1 ? table(rows) : 'every schedule is as its definition says');
  printJson(plans.map(({ scheduleId, exists, changes, kept, conflicts, unrecorded }) => ({ scheduleId, exists, changes, kept, conflicts, unrecorded })));
  return plans.some((p) => p.conflicts.length > 0) ? 1 : 0;
});

export const listSchedules = (config: EtlConfig) => withClient(config, async (client) => {
  const defined = scheduleDefinitions(config).map((d) => d.scheduleId);
  const onServer: string[] = [];
  for await (const summary of client.schedule.list()) onServer.push(summary.scheduleId);
  const ids = [...defined, ...onServer.filter((id) => !defined.includes(id)).sort()];
  const rows = [];
  for (const scheduleId of ids) {
    if (!onServer.includes(scheduleId)) {
      rows.push({ scheduleId, state: 'not applied', note: 'run `etl schedules apply`', nextRuns: [], lastRun: undefined });
      continue;
    }
    const description = await client.schedule.getHandle(scheduleId).describe();
    rows.push({
      scheduleId,
      note: description.state.note ?? '',
      definedInCode: defined.includes(scheduleId),
      ...viewOfServer(description),
      nextRuns: description.state.paused ? [] : description.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()),
      lastRun: await lastRunOf(client, description),
    });
  }
  say(table([
    ['schedule', 'state', 'when', 'next runs', 'last run'],
    ...rows.map((row) => [
      row.scheduleId,
      row.state,
      'cron' in row ? `${row.cron} (${row.timezone})` : '',
      row.nextRuns.map((t) => local(t, config.ETL_TIMEZONE)).join(', ') || '-',
      row.lastRun ? `${row.lastRun.workflowId} ${row.lastRun.status}` : '-',
    ]),
  ]));
  for (const row of rows) if (row.note) say(`${row.scheduleId}: ${row.note}`);
  printJson(rows);
  return 0;
});

async function lastRunOf(client: Client, description: ScheduleDescription) {
  const workflow = description.info.recentActions.at(-1)?.action.workflow;
  if (!workflow) return undefined;
  const run = await client.workflow.getHandle(workflow.workflowId, workflow.firstExecutionRunId).describe().catch(() => undefined);
  return { workflowId: workflow.workflowId, status: run?.status.name.toLowerCase() ?? 'unknown' };
}

const local = (iso: string, timeZone: string): string => {
  const t = zonedTime(new Date(iso), timeZone);
  return `${t.year}-${t.month}-${t.day} ${t.hour}:${t.minute}`;
};

export const pauseSchedule = (config: EtlConfig, scheduleId: string, note: string | undefined, pause: boolean) =>
  withClient(config, async (client) => {
    const handle = client.schedule.getHandle(scheduleId);
    const text = note ?? `${pause ? 'paused' : 'unpaused'} with etl schedules ${pause ? 'pause' : 'unpause'}`;
    await known(scheduleId, pause ? handle.pause(text) : handle.unpause(text));
    say(`${scheduleId}: ${pause ? 'paused' : 'active'} (${text})`);
    printJson({ scheduleId, paused: pause, note: text });
    return 0;
  });

/** Starts one run now. A run of the schedule still going makes it skip, as for a scheduled slot. */
export const triggerSchedule = (config: EtlConfig, scheduleId: string) => withClient(config, async (client) => {
  const handle = client.schedule.getHandle(scheduleId);
  const before = (await known(scheduleId, handle.describe())).info.numActionsTaken;
  await handle.trigger();
  say(`${scheduleId}: triggered; the run shows under the schedule in the Web UI (skipped if one is still running)`);
  printJson({ scheduleId, triggered: true, actionsBefore: before });
  return 0;
});

/**
 * Runs every slot between two times that the schedule would have run (e.g. after an outage longer than
 * its catch-up window), one after another. Times without an offset are wall-clock in ETL_TIMEZONE.
 */
export const backfillSchedule = (config: EtlConfig, scheduleId: string, options: { from: string; to: string }) =>
  withClient(config, async (client) => {
    const [start, end] = [options.from, options.to].map((text, i) => {
      try {
        return instantOfWallClock(text, config.ETL_TIMEZONE);
      } catch (error) {
        throw new ConfigError(`--${i === 0 ? 'from' : 'to'}: ${(error as Error).message}`);
      }
    });
    if (end <= start) throw new ConfigError(`--to (${options.to}) must be after --from (${options.from})`);
    const handle = client.schedule.getHandle(scheduleId);
    await known(scheduleId, handle.describe());
    await handle.backfill({ start, end, overlap: ScheduleOverlapPolicy.BUFFER_ALL });
    say(`${scheduleId}: backfill from ${start.toISOString()} to ${end.toISOString()} requested; its runs start one after another`);
    printJson({ scheduleId, start: start.toISOString(), end: end.toISOString() });
    return 0;
  });

export const deleteSchedule = (config: EtlConfig, scheduleId: string, options: { yes?: boolean }) =>
  withClient(config, async (client) => {
    if (!options.yes) throw new ConfigError(`deleting ${scheduleId} stops its runs for good: add --yes to confirm (pause keeps it)`);
    await known(scheduleId, client.schedule.getHandle(scheduleId).delete());
    const inCode = scheduleDefinitions(config).some((d) => d.scheduleId === scheduleId);
    say(`${scheduleId}: deleted${inCode ? ' (it is defined in schedules/: the next `etl schedules apply` creates it again)' : ''}`);
    printJson({ scheduleId, deleted: true });
    return 0;
  });

async function known<T>(scheduleId: string, operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) throw new ConfigError(`there is no schedule ${scheduleId} (see etl schedules list)`);
    throw error;
  }
}
