import path from 'node:path';
import type { EtlConfig } from '../lib/config/env';
import { DEFAULT_CAMPAIGNS_DIR } from '../lib/config/settings';
import type { PipelineScheduleSpec } from './pipeline-schedule';

const ownCampaigns = (config: EtlConfig) =>
  config.MAILING_CAMPAIGNS_DIR !== undefined && path.resolve(config.MAILING_CAMPAIGNS_DIR) !== path.resolve(DEFAULT_CAMPAIGNS_DIR);

/**
 * Minute 0 of every hour 08:00-20:00, Monday to Saturday, São Paulo time (MAILING_SCHEDULE_CRON to change).
 * A run still going when the next hour is due makes that one skip; after an outage of under 50 minutes the
 * missed slot is still delivered, once, and named after its own hour.
 */
export const mailingCampaignsSchedule = (config: EtlConfig): PipelineScheduleSpec => ({
  scheduleId: 'mailing-campaigns-hourly', cron: config.MAILING_SCHEDULE_CRON, catchupWindow: '50 minutes',
  // Its input is the campaigns folder: the project's sample campaigns query the sample partner base.
  needsInput: ownCampaigns(config) ? undefined : 'set MAILING_CAMPAIGNS_DIR to your campaigns folder and run '
    + 'npx etl schedules apply (it unpauses this schedule); the project\'s campaigns/ query the sample partner base (npx etl sample-data partners)',
});
