import { createHash } from 'node:crypto';
import {
  ScheduleNotFoundError, type Client, type ScheduleDescription, type ScheduleOptions, type ScheduleUpdateOptions,
} from '@temporalio/client';
import type { EtlConfig } from '../lib/config/env';
import { pipelines } from '../lib/pipelines';
import { pipelineSchedule } from './pipeline-schedule';
import { viewOfDefinition, viewOfServer, type FieldChange, type ScheduleView } from './schedule-view';

export function scheduleDefinitions(config: EtlConfig): ScheduleOptions[] {
  return pipelines.map((pipeline) => pipelineSchedule(config, pipeline));
}

/** The schedule memo key where `apply` records what the code last applied: its view and that view's hash. */
export const APPLIED_MEMO = 'etlApplied';

export interface AppliedRecord {
  hash: string;
  view: ScheduleView;
}

export const hashView = (view: ScheduleView): string =>
  createHash('sha256').update(JSON.stringify(Object.entries(view).sort())).digest('hex').slice(0, 16);

/** A field the operator changed (in the Web UI, with the CLI) and the code did not: `apply` keeps it. */
export interface KeptField {
  field: keyof ScheduleView;
  server: string;
  code: string;
}

/** A field both the operator and the code changed since the last apply: `apply` keeps the server's unless --force. */
export interface Conflict {
  field: keyof ScheduleView;
  lastApplied: string;
  code: string;
  server: string;
}

export interface SchedulePlan {
  scheduleId: string;
  /** `missing`: not on the server (apply creates it). */
  exists: boolean;
  /** What apply writes to the server: the code's changes (and, with --force, the code's side of each conflict). */
  changes: FieldChange[];
  kept: KeptField[];
  conflicts: Conflict[];
  /** The schedule had no record of a last apply (made before records, or by hand): see planSchedule. */
  unrecorded: boolean;
  /** The record apply leaves in the memo. */
  record: AppliedRecord;
}

/**
 * Compares three ways, field by field: the code now, the code last applied (the memo's record) and the server now.
 * A field only the code changed is applied; one only the operator changed is kept; one both changed differently is a
 * conflict, kept as the server has it (and left out of the new record, so it stays a conflict) unless `force`.
 * Without a record, the server is taken as the last apply (the code wins, as before records), except for the paused
 * state, which stays the operator's.
 */
export function planSchedule(scheduleId: string, code: ScheduleView, server: ScheduleView | undefined,
  recorded: AppliedRecord | undefined, force = false): SchedulePlan {
  if (!server) return { scheduleId, exists: false, changes: [], kept: [], conflicts: [], unrecorded: false, record: record(code) };
  const base: ScheduleView = recorded?.view ?? { ...server, state: code.state };
  const plan: SchedulePlan = { scheduleId, exists: true, changes: [], kept: [], conflicts: [], unrecorded: !recorded, record: record(code) };
  const newBase = { ...code };
  for (const field of Object.keys(code) as (keyof ScheduleView)[]) {
    const [now, last, live] = [code[field], base[field], server[field]];
    if (now === live) continue;
    if (now === last) {
      plan.kept.push({ field, server: live, code: now });
    } else if (live === last || force) {
      plan.changes.push({ field, from: live, to: now });
      if (live !== last) plan.conflicts.push({ field, lastApplied: last, code: now, server: live });
    } else {
      plan.conflicts.push({ field, lastApplied: last, code: now, server: live });
      newBase[field] = last;
    }
  }
  plan.record = record(newBase);
  return plan;
}

const record = (view: ScheduleView): AppliedRecord => ({ view, hash: hashView(view) });

/**
 * The record of the last apply. A schedule's own memo cannot be changed after it is created (the server refuses memo
 * updates of schedules), so each apply writes it in the memo of the action's workflow; the schedule's memo keeps the
 * record of its creation, the fallback where the action's is gone (an edit that dropped it): then a later code change
 * shows as a conflict rather than undoing an operator's edit.
 */
export function recordOf(description: ScheduleDescription): AppliedRecord | undefined {
  const isRecord = (value: unknown): value is AppliedRecord =>
    typeof value === 'object' && value !== null && typeof (value as AppliedRecord).view === 'object';
  const fromAction = description.action.type === 'startWorkflow' ? description.action.memo?.[APPLIED_MEMO] : undefined;
  const fromCreation = description.memo?.[APPLIED_MEMO];
  return isRecord(fromAction) ? fromAction : isRecord(fromCreation) ? fromCreation : undefined;
}

async function describeOrUndefined(client: Client, scheduleId: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(scheduleId).describe();
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return undefined;
    throw error;
  }
}

/** What `apply` would do to each schedule, without doing it (`etl schedules diff`). */
export async function planSchedules(client: Client, config: EtlConfig, force = false): Promise<SchedulePlan[]> {
  const plans: SchedulePlan[] = [];
  for (const definition of scheduleDefinitions(config)) {
    const current = await describeOrUndefined(client, definition.scheduleId);
    plans.push(planSchedule(definition.scheduleId, viewOfDefinition(definition),
      current && viewOfServer(current), current && recordOf(current), force));
  }
  return plans;
}

export interface AppliedSchedule {
  scheduleId: string;
  change: 'created' | 'updated' | 'unchanged';
  /** Each field apply changed on the server: what it had and what the definition says. */
  diff: FieldChange[];
  /** The operator's changes, kept. */
  kept: KeptField[];
  /** Fields both sides changed: left as the server has them, or (with --force) overwritten and listed in diff too. */
  conflicts: Conflict[];
  forced: boolean;
  /** The hash of what the code last applied, as recorded in the schedule's memo. */
  appliedHash: string;
}

/**
 * Creates missing schedules and brings each one to its definition where the operator has not changed it since the
 * last apply (see planSchedule); records what it applied in the schedule's memo. Safe to run any number of times.
 */
export async function applySchedules(client: Client, config: EtlConfig, options: { force?: boolean } = {}): Promise<AppliedSchedule[]> {
  const applied: AppliedSchedule[] = [];
  for (const definition of scheduleDefinitions(config)) {
    const handle = client.schedule.getHandle(definition.scheduleId);
    const current = await describeOrUndefined(client, definition.scheduleId);
    const plan = planSchedule(definition.scheduleId, viewOfDefinition(definition),
      current && viewOfServer(current), current && recordOf(current), options.force);
    const result = { scheduleId: plan.scheduleId, diff: plan.changes, kept: plan.kept, conflicts: plan.conflicts,
      forced: Boolean(options.force) && plan.conflicts.length > 0, appliedHash: plan.record.hash };
    if (!current) {
      await client.schedule.create({ ...definition, memo: { ...definition.memo, [APPLIED_MEMO]: plan.record },
        action: { ...definition.action, memo: { [APPLIED_MEMO]: plan.record } } });
      applied.push({ ...result, change: 'created' });
      continue;
    }
    if (plan.changes.length > 0 || recordOf(current)?.hash !== plan.record.hash) {
      const fields = new Set(plan.changes.map((c) => c.field));
      await handle.update((live) => takeFromDefinition(live, definition, fields, plan.record));
    }
    applied.push({ ...result, change: plan.changes.length > 0 ? 'updated' : 'unchanged' });
  }
  return applied;
}

/** The live schedule with the given fields taken from the definition. */
function takeFromDefinition(live: ScheduleDescription, definition: ScheduleOptions, fields: Set<keyof ScheduleView>,
  applied: AppliedRecord): ScheduleUpdateOptions {
  const spec = { ...live.spec };
  if (fields.has('cron')) Object.assign(spec, { calendars: undefined, cronExpressions: definition.spec.cronExpressions });
  if (fields.has('timezone')) spec.timezone = definition.spec.timezone;
  const action = { ...live.action } as typeof definition.action;
  const wanted = definition.action;
  if (fields.has('workflowType')) action.workflowType = wanted.workflowType;
  if (fields.has('taskQueue')) action.taskQueue = wanted.taskQueue;
  if (fields.has('workflowId')) action.workflowId = wanted.workflowId;
  if (fields.has('input')) action.args = wanted.args;
  action.memo = { ...live.action.memo, [APPLIED_MEMO]: applied };
  const policies = { ...live.policies };
  if (fields.has('overlap')) policies.overlap = definition.policies?.overlap;
  if (fields.has('catchupWindow')) policies.catchupWindow = definition.policies?.catchupWindow ?? policies.catchupWindow;
  const paused = Boolean(definition.state?.paused);
  const state = fields.has('state')
    ? { ...live.state, paused, note: definition.state?.note ?? 'unpaused by etl schedules apply: its definition is active' }
    : live.state;
  return { ...live, spec, action, policies, state } as ScheduleUpdateOptions;
}
