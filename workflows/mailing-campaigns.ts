import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { ActivityFailure, ApplicationFailure, defineQuery, isCancellation, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { MailingActivities } from '../activities/mailing-campaigns';
import { mailingInputSchema, type CampaignOutcome, type MailingInput, type MailingResult, type PlannedDelivery, type SlotSource } from '../lib/contracts/mailing-campaigns';
import { summarized } from '../lib/workflow/activity-summary';
import { cancellationType } from '../lib/workflow/cancellation';
import { forEachBounded } from '../lib/workflow/bounded';
import { ErrorType } from '../lib/workflow/errors';
import { runPipeline } from '../lib/workflow/pipeline-run';
import { retryPolicies } from '../lib/workflow/retry-policies';
import { ROWS_LOADED } from '../lib/workflow/search-attributes';

const { planMailingRun, recordCampaignFailure } = proxyActivities<MailingActivities>({
  // recordCampaignFailure waits up to 45 s for a delivery attempt that may still be running.
  startToCloseTimeout: '2 minutes',
  retry: retryPolicies.planning,
});

// After a cancel: waits for each delivery attempt still running to stop (up to a minute each), then closes its journal row.
const { closeCancelledDeliveries } = proxyActivities<MailingActivities>({
  startToCloseTimeout: '10 minutes',
  retry: retryPolicies.planning,
});

/** Before this patch, a cancelled run went on as if its campaigns had failed, leaving their journal rows and temporary files. */
const CLOSE_WHEN_CANCELLED = 'mailing-close-when-cancelled';

// One campaign's delivery: query -> temporary file -> verify -> rename; a server that is down is retried for about two minutes.
const deliveryStep = (campaign: string) => proxyActivities<MailingActivities>({
  activityId: `deliver-${campaign}`,
  cancellationType: cancellationType(),
  startToCloseTimeout: '20 minutes',
  heartbeatTimeout: '1 minute',
  retry: retryPolicies.delivery,
}).deliverCampaign;

export interface MailingProgress {
  step: string;
  slot?: string;
  campaigns: CampaignOutcome[];
}
export const mailingProgressQuery = defineQuery<MailingProgress>('progress');

// Set by Temporal Schedules on every run they start: the time the action was due, however late the run starts.
const SCHEDULED_START = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

/**
 * Every active campaign's query -> a CSV in the dialer's layout -> the campaign's SFTP folder, named after the slot.
 * One campaign failing does not stop the others; the run fails at the end, listing each campaign's outcome in the
 * failure's details (and in the progress query), when any of them failed.
 */
export async function mailingCampaigns(input: MailingInput = {}): Promise<MailingResult> {
  const progress: MailingProgress = { step: 'validating input', campaigns: [] };
  return runPipeline({
    workflowType: 'mailingCampaigns', inputSchema: mailingInputSchema, progressQuery: mailingProgressQuery, progress,
    succeeded: (result: MailingResult) => ({ rowsLoaded: result.rows }),
    failureOutcomeBeforePatch: (_progress, error) => error instanceof ApplicationFailure && error.type === ErrorType.CampaignsFailed,
  }, input, async ({ campaigns, slot, parallelism }, pipelineRun) => {
    const info = workflowInfo();
    const run = { workflowId: info.workflowId, runId: info.runId };

    // 1. The slot: the schedule's time for this action (a late run still names the slot it belongs to), else the input's, else now.
    const scheduled = info.typedSearchAttributes.get(SCHEDULED_START);
    const [time, slotSource]: [string, SlotSource] = slot ? [slot, 'input']
      : scheduled ? [new Date(scheduled).toISOString(), 'schedule'] : [info.startTime.toISOString(), 'start'];
    progress.step = 'planning';
    const plan = await planMailingRun({ campaigns, time, slotSource });
    progress.slot = plan.slotLabel;
    progress.campaigns = [
      ...plan.invalid.map(({ campaign, error }): CampaignOutcome => ({
        campaign, status: 'failed', rows: 0, bytes: 0, fileName: null, remotePath: null, error, errorType: ErrorType.InvalidCampaign,
      })),
      ...plan.deliveries.map((d): CampaignOutcome => ({
        campaign: d.campaign.name, status: 'pending', rows: 0, bytes: 0, fileName: d.fileName, remotePath: d.remotePath,
      })),
    ];
    const outcomeOf = (name: string) => progress.campaigns.find((o) => o.campaign === name)!;
    // A cancelled run (Web UI, CLI) leaves nothing behind: no temporary file in a dialer's folder, every planned
    // delivery's journal row closed ('cancelled', or 'delivered' when its file was renamed already).
    const closeWhenCancelled = patched(CLOSE_WHEN_CANCELLED);
    if (closeWhenCancelled) {
      pipelineRun.onFailure(async (error) => {
        if (!isCancellation(error) || !plan.deliveries.length) return;
        progress.step = 'closing cancelled deliveries';
        const closed = await summarized(closeCancelledDeliveries, `close ${plan.deliveries.length} deliveries of slot ${plan.slotLabel}`)(plan.deliveries, run);
        for (const { campaign, status } of closed) {
          const outcome = outcomeOf(campaign);
          if (status === 'cancelled') Object.assign(outcome, { status: 'failed', error: 'the run was cancelled before this file was delivered' });
          else if (status === 'delivered') outcome.status = 'delivered';
        }
      });
    }

    // 2. Deliver each campaign, a few at a time; a failure is recorded and the others go on.
    const deliver = async (delivery: PlannedDelivery) => {
      const outcome = outcomeOf(delivery.campaign.name);
      outcome.status = 'running';
      try {
        const receipt = await summarized(deliveryStep(delivery.campaign.name), `campaign ${delivery.campaign.name} -> ${delivery.remotePath}`)(delivery, run);
        Object.assign(outcome, { status: receipt.status, rows: receipt.rows, bytes: receipt.bytes, sha256: receipt.sha256 });
      } catch (error) {
        // A cancelled run stops here; its cleanup (above) closes the deliveries.
        if (closeWhenCancelled && isCancellation(error)) throw error;
        const cause = error instanceof ActivityFailure ? error.cause : error;
        Object.assign(outcome, {
          status: 'failed', error: (cause as Error)?.message ?? String(cause),
          errorType: cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined,
        });
        // The journal has the last word: an attempt given up on (a timeout) may have delivered the file after all.
        // (Histories recorded before this returned anything replay with no receipt: the campaign stays failed.)
        const real = await recordCampaignFailure(delivery, run, outcome.error!).catch(() => undefined);
        if (real) {
          Object.assign(outcome, { status: real.status, rows: real.rows, bytes: real.bytes, sha256: real.sha256, error: undefined, errorType: undefined });
        }
      }
    };
    progress.step = 'delivering';
    await forEachBounded(plan.deliveries, parallelism, deliver);

    // 3. The result: every campaign's status, rows, file and remote path.
    const failed = progress.campaigns.filter((o) => o.status === 'failed');
    const result: MailingResult = {
      pipeline: 'mailingCampaigns',
      slot: plan.slot,
      slotLabel: plan.slotLabel,
      slotSource: plan.slotSource,
      campaigns: progress.campaigns,
      delivered: progress.campaigns.filter((o) => o.status === 'delivered').length,
      failed: failed.length,
      rows: progress.campaigns.reduce((sum, o) => sum + (o.status === 'delivered' ? o.rows : 0), 0),
    };
    if (failed.length) {
      // The failed run's outcome carries the rows that were delivered.
      pipelineRun.outcomeAttributes.push({ key: ROWS_LOADED, value: result.rows });
      throw ApplicationFailure.create({
        type: ErrorType.CampaignsFailed,
        nonRetryable: true,
        message: `${failed.length} of ${progress.campaigns.length} campaigns failed for slot ${plan.slotLabel}: `
          + failed.map((o) => `${o.campaign} (${o.error})`).join('; '),
        details: [result],
      });
    }
    return result;
  });
}
