import type { EtlConfig } from '../lib/config/env';
import type { PipelineScheduleSpec } from './pipeline-schedule';

/**
 * Manual by default: the schedule exists paused (Mondays 09:00 São Paulo on the demo customers), ready to be
 * unpaused in the Web UI once its input points at the real customers file.
 */
export const marketingEnrichmentSchedule = (_config: EtlConfig): PipelineScheduleSpec => ({
  scheduleId: 'marketing-enrichment-weekly', cron: '0 9 * * 1', catchupWindow: '1 hour',
  pausedNote: 'manual pipeline: set the customers file in the action input, then unpause',
});
