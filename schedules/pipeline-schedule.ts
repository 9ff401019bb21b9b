import { ScheduleOverlapPolicy, type ScheduleOptions } from '@temporalio/client';
import type { EtlConfig } from '../lib/config/env';
import { inputWithConfiguration, type PipelineInfo } from '../lib/pipelines';

export interface PipelineScheduleSpec {
  scheduleId: string;
  /** 5-field cron, in ETL_TIMEZONE. */
  cron: string;
  /** How late a missed action may still start after an outage; it starts once. */
  catchupWindow: string;
  /** Created paused, with this note shown in the Web UI (`schedules apply` never unpauses it). */
  pausedNote?: string;
}

/** A pipeline's schedule: its workflow on its task queue with input `{}`, a run that would overlap skipped. */
export function pipelineSchedule(config: EtlConfig, pipeline: PipelineInfo): ScheduleOptions {
  const spec = pipeline.schedule(config);
  return {
    scheduleId: spec.scheduleId,
    spec: { cronExpressions: [spec.cron], timezone: config.ETL_TIMEZONE },
    action: {
      type: 'startWorkflow',
      workflowType: pipeline.workflowType,
      taskQueue: pipeline.taskQueue,
      workflowId: `${pipeline.name}-scheduled`,
      args: [inputWithConfiguration(pipeline, config)],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: spec.catchupWindow },
    ...(spec.pausedNote ? { state: { paused: true, note: spec.pausedNote } } : {}),
    memo: { description: pipeline.description },
  };
}
