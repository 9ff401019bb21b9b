import { ScheduleOverlapPolicy, type ScheduleOptions } from '@temporalio/client';
import type { EtlConfig } from '../lib/config';
import { findPipeline } from '../lib/pipelines';

/** Daily at 03:00 São Paulo time (SYNC_SCHEDULE_CRON to change); a run still going when the next is due makes it skip. */
export function incrementalSyncSchedule(config: EtlConfig): ScheduleOptions {
  const pipeline = findPipeline('incremental-sync');
  return {
    scheduleId: 'incremental-sync-daily',
    spec: { cronExpressions: [config.SYNC_SCHEDULE_CRON], timezone: config.ETL_TIMEZONE },
    action: {
      type: 'startWorkflow',
      workflowType: pipeline.workflowType,
      taskQueue: pipeline.taskQueue,
      workflowId: 'incremental-sync-scheduled',
      args: [{}],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
    memo: { description: pipeline.description },
  };
}
