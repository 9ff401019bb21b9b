import type { EtlConfig } from '../lib/config/env';
import type { PipelineScheduleSpec } from './pipeline-schedule';

/**
 * Every day at 04:00 São Paulo, before the CRM's models score the users: the default input (tbl_transactions +
 * the lake, merge). A run still going at the next 04:00 is not doubled; a server down at 04:00 still runs it within the hour.
 */
export const crmFeaturesSchedule = (_config: EtlConfig): PipelineScheduleSpec => ({
  scheduleId: 'crm-features-daily', cron: '0 4 * * *', catchupWindow: '1 hour',
  needsInput: 'set sourceTable and lakePrefix in the schedule\'s input to your transactions, then unpause; the defaults '
    + '(tbl_transactions, s3:lake/transactions/) are the sample data (npx etl sample-data crm)',
});
