import { ScheduleOverlapPolicy, type ScheduleOptions } from '@temporalio/client';
import type { EtlConfig } from '../lib/config';
import { findPipeline } from '../lib/pipelines';

/** Every day at 04:00 São Paulo, before the CRM's models score the users: the default input (tbl_transactions + the lake, merge). */
export function crmFeaturesSchedule(config: EtlConfig): ScheduleOptions {
  const pipeline = findPipeline('crm-features');
  return {
    scheduleId: 'crm-features-daily',
    spec: { cronExpressions: ['0 4 * * *'], timezone: config.ETL_TIMEZONE },
    action: {
      type: 'startWorkflow',
      workflowType: pipeline.workflowType,
      taskQueue: pipeline.taskQueue,
      workflowId: 'crm-features-scheduled',
      args: [{}],
    },
    // A run still going at the next 04:00 is not doubled; a server down at 04:00 still runs it within the hour.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
    memo: { description: pipeline.description },
  };
}
