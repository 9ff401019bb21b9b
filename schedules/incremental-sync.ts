import type { EtlConfig } from '../lib/config/env';
import type { PipelineScheduleSpec } from './pipeline-schedule';

/** Daily at 03:00 São Paulo time (SYNC_SCHEDULE_CRON to change); a run still going when the next is due makes it skip. */
export const incrementalSyncSchedule = (config: EtlConfig): PipelineScheduleSpec => ({
  scheduleId: 'incremental-sync-daily', cron: config.SYNC_SCHEDULE_CRON, catchupWindow: '1 hour',
  needsInput: 'set sourceTable (and targetTable) in the schedule\'s input, then unpause; the default public.conversations is '
    + 'the sample table (npx etl sample-data conversations)',
});
