import { ScheduleOverlapPolicy, type ScheduleOptions } from '@temporalio/client';
import type { EtlConfig } from '../lib/config';
import { findPipeline } from '../lib/pipelines';

/**
 * Minute 0 of every hour 08:00-20:00, Monday to Saturday, São Paulo time (MAILING_SCHEDULE_CRON to change).
 * A run still going when the next hour is due makes that one skip; after an outage of under 50 minutes the
 * missed slot is still delivered, once, and named after its own hour.
 */
export function mailingCampaignsSchedule(config: EtlConfig): ScheduleOptions {
  const pipeline = findPipeline('mailing-campaigns');
  return {
    scheduleId: 'mailing-campaigns-hourly',
    spec: { cronExpressions: [config.MAILING_SCHEDULE_CRON], timezone: config.ETL_TIMEZONE },
    action: {
      type: 'startWorkflow',
      workflowType: pipeline.workflowType,
      taskQueue: pipeline.taskQueue,
      workflowId: 'mailing-campaigns-scheduled',
      args: [{}],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '50 minutes' },
    memo: { description: pipeline.description },
  };
}
