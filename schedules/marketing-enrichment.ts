import { ScheduleOverlapPolicy, type ScheduleOptions } from '@temporalio/client';
import type { EtlConfig } from '../lib/config';
import { findPipeline } from '../lib/pipelines';

/**
 * Manual by default: the schedule exists paused (Mondays 09:00 São Paulo on the demo customers), ready to be
 * unpaused in the Web UI once its input points at the real customers file. `schedules apply` never unpauses it.
 */
export function marketingEnrichmentSchedule(config: EtlConfig): ScheduleOptions {
  const pipeline = findPipeline('marketing-enrichment');
  return {
    scheduleId: 'marketing-enrichment-weekly',
    spec: { cronExpressions: ['0 9 * * 1'], timezone: config.ETL_TIMEZONE },
    action: {
      type: 'startWorkflow',
      workflowType: pipeline.workflowType,
      taskQueue: pipeline.taskQueue,
      workflowId: 'marketing-enrichment-scheduled',
      args: [{}],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
    state: { paused: true, note: 'manual pipeline: set the customers file in the action input, then unpause' },
    memo: { description: pipeline.description },
  };
}
