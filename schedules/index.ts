import { ScheduleNotFoundError, type Client, type ScheduleOptions } from '@temporalio/client';
import type { EtlConfig } from '../lib/config/env';
import { pipelines } from '../lib/pipelines';
import { pipelineSchedule } from './pipeline-schedule';
import { diffViews, viewOfDefinition, viewOfServer, type FieldChange } from './schedule-view';

export function scheduleDefinitions(config: EtlConfig): ScheduleOptions[] {
  return pipelines.map((pipeline) => pipelineSchedule(config, pipeline));
}

export interface AppliedSchedule {
  scheduleId: string;
  change: 'created' | 'updated' | 'unchanged';
  /** For an update, each field that differed: what the server had and what the definition says. */
  diff: FieldChange[];
}

/**
 * Creates missing schedules and brings changed ones to their definition; safe to run any number of times.
 * A schedule's paused state and note are the operators' and are never changed here.
 */
export async function applySchedules(client: Client, config: EtlConfig): Promise<AppliedSchedule[]> {
  const applied: AppliedSchedule[] = [];
  for (const definition of scheduleDefinitions(config)) {
    const handle = client.schedule.getHandle(definition.scheduleId);
    let current;
    try {
      current = await handle.describe();
    } catch (error) {
      if (!(error instanceof ScheduleNotFoundError)) throw error;
      await client.schedule.create(definition);
      applied.push({ scheduleId: definition.scheduleId, change: 'created', diff: [] });
      continue;
    }
    const diff = diffViews(viewOfServer(current), viewOfDefinition(definition));
    if (diff.length > 0) {
      await handle.update((live) => ({ ...live, spec: definition.spec, action: definition.action, policies: definition.policies }));
    }
    applied.push({ scheduleId: definition.scheduleId, change: diff.length > 0 ? 'updated' : 'unchanged', diff });
  }
  return applied;
}
