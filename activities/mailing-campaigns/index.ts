import { Context } from '@temporalio/activity';
import type pg from 'pg';
import type { MailingPlan, PlannedDelivery, PlanRequest } from '../../lib/contracts/mailing-campaigns';
import { planMailingRun } from './plan-mailing-run';
import { deliverCampaign, type DeliveryDeps } from './deliver-campaign';
import { recordFailure, type RunRef } from './deliveries-journal';
import type { SftpSettings } from '../../lib/io/sftp';
import { reportProgress } from '../../lib/activity/heartbeat';

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
  const delivery: DeliveryDeps = { source: deps.source, target: deps.target, sftp: deps.sftp, timeZone: deps.timeZone };
  return {
    planMailingRun: async (request: PlanRequest): Promise<MailingPlan> => planMailingRun(deps, request),
    deliverCampaign: (planned: PlannedDelivery, run: RunRef) => {
      const context = Context.current();
      return deliverCampaign(delivery, planned, run, {
        attempt: context.info.attempt,
        heartbeat: reportProgress,
      });
    },
    recordCampaignFailure: (planned: PlannedDelivery, run: RunRef, error: string) => recordFailure(deps.target, planned, run, error),
  };
}

export type MailingActivities = ReturnType<typeof createMailingActivities>;
