import { ScheduleNotFoundError, type Client, type ScheduleOptions } from '@temporalio/client';
import type { EtlConfig } from '../lib/config';
import { crmFeaturesSchedule } from './crm-features';
import { incrementalSyncSchedule } from './incremental-sync';
import { mailingCampaignsSchedule } from './mailing-campaigns';
import { marketingEnrichmentSchedule } from './marketing-enrichment';
import { salesWarehouseSchedule } from './sales-warehouse';

export function scheduleDefinitions(config: EtlConfig): ScheduleOptions[] {
  return [incrementalSyncSchedule(config), mailingCampaignsSchedule(config), marketingEnrichmentSchedule(config), crmFeaturesSchedule(config),
    salesWarehouseSchedule(config)];
}

export interface AppliedSchedule {
  scheduleId: string;
  change: 'created' | 'updated';
}

/** Creates missing schedules and brings existing ones to their definition; safe to run any number of times. */
export async function applySchedules(client: Client, config: EtlConfig): Promise<AppliedSchedule[]> {
  const applied: AppliedSchedule[] = [];
  for (const definition of scheduleDefinitions(config)) {
    const handle = client.schedule.getHandle(definition.scheduleId);
    try {
      await handle.describe();
      await handle.update((current) => ({ ...current, spec: definition.spec, action: definition.action, policies: definition.policies }));
      applied.push({ scheduleId: definition.scheduleId, change: 'updated' });
    } catch (error) {
      if (!(error instanceof ScheduleNotFoundError)) throw error;
      await client.schedule.create(definition);
      applied.push({ scheduleId: definition.scheduleId, change: 'created' });
    }
  }
  return applied;
}
