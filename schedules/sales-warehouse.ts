import type { EtlConfig } from '../lib/config/env';
import type { PipelineScheduleSpec } from './pipeline-schedule';

/**
 * Every hour, on the hour, São Paulo time: the default input (the sample sources, incremental load). A run still going
 * at the next hour makes that one skip; after an outage the missed hour runs once, within 15 minutes.
 */
export const salesWarehouseSchedule = (_config: EtlConfig): PipelineScheduleSpec => ({
  scheduleId: 'sales-warehouse-hourly', cron: '0 * * * *', catchupWindow: '15 minutes',
  needsInput: 'set sources in the schedule\'s input to your APIs, files and databases, then unpause; the default sources are '
    + 'the sample data (npx etl sample-data sales)',
});
