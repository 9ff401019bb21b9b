import { ScheduleOverlapPolicy, type ScheduleOptions } from '@temporalio/client';
import type { EtlConfig } from '../lib/config/env';
import { inputWithConfiguration, type PipelineInfo } from '../lib/pipelines';
import { pipelinesWithSampleData } from '../lib/sample-data/marker';

export interface PipelineScheduleSpec {
  scheduleId: string;
  /** 5-field cron, in ETL_TIMEZONE. */
  cron: string;
  /** How late a missed action may still start after an outage; it starts once. */
  catchupWindow: string;
  /** Created paused, with this note shown in the Web UI; the operator unpauses it (`schedules apply` keeps their choice). */
  pausedNote?: string;
  /**
   * Its default input is the sample data: without it (see lib/sample-data/marker.ts) the schedule is created paused
   * with this note, which says what to set. Undefined when the configuration gives it an input of its own.
   */
  needsInput?: string;
}

/** What a schedule paused for want of input says in the Web UI, `etl schedules list` and `etl health`. */
export const NO_INPUT_NOTE = 'input not configured';

/** A pipeline's schedule: its workflow on its task queue with input `{}`, a run that would overlap skipped. */
export function pipelineSchedule(config: EtlConfig, pipeline: PipelineInfo, sampleData = pipelinesWithSampleData(config.ETL_DATA_DIR)): ScheduleOptions {
  const spec = pipeline.schedule(config);
  const note = spec.pausedNote
    ?? (spec.needsInput && !sampleData.has(pipeline.name) ? `${NO_INPUT_NOTE}: ${spec.needsInput}` : undefined);
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
    ...(note ? { state: { paused: true, note } } : {}),
    memo: { description: pipeline.description },
  };
}
