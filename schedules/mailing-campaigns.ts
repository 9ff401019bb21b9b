import type { EtlConfig } from '../lib/config/env';
import type { PipelineScheduleSpec } from './pipeline-schedule';

/**
 * Minute 0 of every hour 08:00-20:00, Monday to Saturday, São Paulo time (MAILING_SCHEDULE_CRON to change).
 * A run still going when the next hour is due makes that one skip; after an outage of under 50 minutes the
 * missed slot is still delivered, once, and named after its own hour.
 */
export const mailingCampaignsSchedule = (config: EtlConfig): PipelineScheduleSpec => ({
  scheduleId: 'mailing-campaigns-hourly', cron: config.MAILING_SCHEDULE_CRON, catchupWindow: '50 minutes',
});
