import path from 'node:path';
import { Context } from '@temporalio/activity';
import { DEFAULT_CAMPAIGNS_DIR } from '../../lib/config/settings';
import type pg from 'pg';
import type { MailingPlan, PlannedDelivery, PlanRequest } from '../../lib/contracts/mailing-campaigns';
import { planMailingRun } from './plan-mailing-run';
import { closeCancelledDelivery, deliverCampaign, type DeliveryDeps, type JournalStatusAfterCancel } from './deliver-campaign';
import { recordFailure, recordInvalid, type RunRef } from './deliveries-journal';
import type { SftpSettings } from '../../lib/io/sftp';
import { reportProgress, withHeartbeat } from '../../lib/activity/heartbeat';

export interface MailingDeps {
  /** The source database as the read-only user: the campaigns' queries run there. */
  source: pg.Pool;
  /** The target database: mailing_deliveries. */
  target: pg.Pool;
  sftp: SftpSettings;
  campaignsDir: string;
  timeZone: string;
}

/** The mailingCampaigns activities, bound to their databases, SFTP server and campaign folder (real ones in tests too). */
export function createMailingActivities(deps: MailingDeps) {
  const delivery: DeliveryDeps = { source: deps.source, target: deps.target, sftp: deps.sftp, timeZone: deps.timeZone,
    sampleCampaigns: path.resolve(deps.campaignsDir) === path.resolve(DEFAULT_CAMPAIGNS_DIR) };
  return {
    planMailingRun: async (request: PlanRequest): Promise<MailingPlan> => {
      const plan = planMailingRun(deps, request);
      // Campaign files that failed validation are recorded for the slot, like any failed delivery.
      const run = Context.current().info.workflowExecution;
      if (run) for (const invalid of plan.invalid) await recordInvalid(deps.target, invalid, plan.slot, run);
      return plan;
    },
    // Heartbeats every few seconds from the start, also while the query runs before its first row: a query longer
    // than the heartbeat timeout is not mistaken for a dead worker (which would retry it while it still delivers).
    deliverCampaign: (planned: PlannedDelivery, run: RunRef) => withHeartbeat(() => {
      const context = Context.current();
      return deliverCampaign(delivery, planned, run, {
        attempt: context.info.attempt,
        heartbeat: reportProgress,
      });
    }),
    /** A cancelled run's deliveries: temporary files removed, journal rows closed ('cancelled' unless delivered). */
    closeCancelledDeliveries: async (planned: PlannedDelivery[], run: RunRef) => {
      const closed: { campaign: string; status: JournalStatusAfterCancel }[] = [];
      for (const one of planned) closed.push({ campaign: one.campaign.name, status: await closeCancelledDelivery(delivery, one, run) });
      return closed;
    },
    recordCampaignFailure: (planned: PlannedDelivery, run: RunRef, error: string) => recordFailure(deps.target, planned, run, error),
  };
}

export type MailingActivities = ReturnType<typeof createMailingActivities>;
