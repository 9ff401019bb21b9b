import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { Campaign } from '../../lib/contracts/mailing-campaign-file';
import { loadCampaigns } from './load-campaigns';
import type { MailingPlan, PlannedDelivery, PlanRequest } from '../../lib/contracts/mailing-campaigns';
import { describeSlot, floorToHour, formatFileName, zonedTime } from './slot';
import { ErrorType } from '../../lib/workflow/errors';

export interface PlanDeps {
  campaignsDir: string;
  timeZone: string;
}

export function isActive(campaign: Campaign, slot: Date, timeZone: string): boolean {
  const t = zonedTime(slot, timeZone);
  const hour = Number(t.hour);
  return campaign.activeDays.includes(t.weekday) && hour >= campaign.activeHours.from && hour <= campaign.activeHours.to;
}

/**
 * Decides the run: its slot (the hour of the schedule's action time, or of the input's or the start's time, in
 * the time zone), and for each campaign to deliver its configuration, query text, file name and remote path.
 * Campaigns named in the request are delivered whatever their active hours; otherwise those active in the slot.
 */
export function planMailingRun(deps: PlanDeps, request: PlanRequest): MailingPlan {
  const slot = floorToHour(new Date(request.time), deps.timeZone);
  const loaded = loadCampaigns(deps.campaignsDir);
  const known = [...loaded.campaigns.map((c) => c.name), ...loaded.invalid.map((c) => c.campaign)];
  const unknown = (request.campaigns ?? []).filter((name) => !known.includes(name));
  if (unknown.length) {
    throw ApplicationFailure.nonRetryable(
      `unknown campaign${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; the campaigns in ${deps.campaignsDir} are: ${known.sort().join(', ') || 'none'}`,
      ErrorType.InvalidInput);
  }
  const wanted = (name: string) => !request.campaigns || request.campaigns.includes(name);
  const chosen = loaded.campaigns.filter((c) => wanted(c.name) && (request.campaigns || isActive(c, slot, deps.timeZone)));
  const invalid = loaded.invalid.filter((c) => wanted(c.campaign)).map(({ campaign, error }) => ({ campaign, error }));

  const deliveries: PlannedDelivery[] = [];
  const byPath = new Map<string, string>();
  for (const campaign of chosen) {
    const fileName = formatFileName(campaign.fileName, campaign.name, slot, deps.timeZone);
    const remotePath = path.posix.join(campaign.sftpFolder, fileName);
    const clash = byPath.get(remotePath);
    if (clash) {
      invalid.push({ campaign: campaign.name, error: `campaign ${campaign.name} would write ${remotePath}, as campaign ${clash} does: put {campaign} in fileName or use another sftpFolder` });
      continue;
    }
    byPath.set(remotePath, campaign.name);
    deliveries.push({ campaign, slot: slot.toISOString(), fileName, remotePath });
  }
  return {
    slot: slot.toISOString(),
    slotLabel: describeSlot(slot, deps.timeZone),
    slotSource: request.slotSource,
    deliveries,
    invalid,
  };
}
