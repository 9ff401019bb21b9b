import type { EtlConfig } from '../lib/config/env';
import { pipelineSchedule } from './pipeline-schedule';

/** Daily at 03:00 São Paulo time (SYNC_SCHEDULE_CRON to change); a run still going when the next is due makes it skip. */
export const incrementalSyncSchedule = (config: EtlConfig) => pipelineSchedule(config, {
  pipeline: 'incremental-sync', scheduleId: 'incremental-sync-daily', cron: config.SYNC_SCHEDULE_CRON, catchupWindow: '1 hour',
});
