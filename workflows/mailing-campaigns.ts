import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { ActivityFailure, ApplicationFailure, defineQuery, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { MailingActivities } from '../activities/mailing-campaigns';
import { mailingInputSchema, type CampaignOutcome, type MailingInput, type MailingResult, type PlannedDelivery, type SlotSource } from '../lib/contracts/mailing-campaigns';
import { summarized } from '../lib/workflow/activity-summary';
import { OUTCOME, PIPELINE, ROWS_LOADED } from '../lib/workflow/search-attributes';
import { describeIssues } from '../lib/workflow/validation';

// Problems no retry can fix: a bad query, a missing folder, refused credentials, a wrong host key, bad configuration.
const permanent = ['CampaignQueryError', 'QueryTimeout', 'FolderMissing', 'AuthenticationError', 'HostKeyMismatch',
  'ConfigurationError', 'InvalidInput'];

const { planMailingRun, recordCampaignFailure } = proxyActivities<MailingActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes: permanent },
});

// One campaign's delivery: query -> temporary file -> verify -> rename. A server that is down is retried for about
// two minutes (5 s, x2, up to 1 min); the dialer should not wait longer than that for its slot's file.
const deliveryStep = (campaign: string) => proxyActivities<MailingActivities>({
  activityId: `deliver-${campaign}`,
  startToCloseTimeout: '20 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5, nonRetryableErrorTypes: permanent },
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
  setHandler(mailingProgressQuery, () => progress);
  upsertSearchAttributes([{ key: PIPELINE, value: 'mailingCampaigns' }]);

  const parsed = mailingInputSchema.safeParse(input ?? {});
  if (!parsed.success) throw ApplicationFailure.nonRetryable(describeIssues('input', parsed.error), 'InvalidInput');
  const { campaigns, slot, parallelism } = parsed.data;
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
      campaign, status: 'failed', rows: 0, bytes: 0, fileName: null, remotePath: null, error, errorType: 'InvalidCampaign',
    })),
    ...plan.deliveries.map((d): CampaignOutcome => ({
      campaign: d.campaign.name, status: 'pending', rows: 0, bytes: 0, fileName: d.fileName, remotePath: d.remotePath,
    })),
  ];
  const outcomeOf = (name: string) => progress.campaigns.find((o) => o.campaign === name)!;

  // 2. Deliver each campaign, a few at a time; a failure is recorded and the others go on.
  const deliver = async (delivery: PlannedDelivery) => {
    const outcome = outcomeOf(delivery.campaign.name);
    outcome.status = 'running';
    try {
      const receipt = await summarized(deliveryStep(delivery.campaign.name), `campaign ${delivery.campaign.name} -> ${delivery.remotePath}`)(delivery, run);
      Object.assign(outcome, { status: receipt.status, rows: receipt.rows, bytes: receipt.bytes, sha256: receipt.sha256 });
    } catch (error) {
      const cause = error instanceof ActivityFailure ? error.cause : error;
      Object.assign(outcome, {
        status: 'failed', error: (cause as Error)?.message ?? String(cause),
        errorType: cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined,
      });
      await recordCampaignFailure(delivery, run, outcome.error!).catch(() => undefined);
    }
  };
  progress.step = 'delivering';
  const queue = [...plan.deliveries];
  await Promise.all(Array.from({ length: Math.min(parallelism, queue.length) }, async () => {
    for (let next = queue.shift(); next; next = queue.shift()) await deliver(next);
  }));

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
  upsertSearchAttributes([{ key: OUTCOME, value: failed.length ? 'failed' : 'success' }, { key: ROWS_LOADED, value: result.rows }]);
  progress.step = 'done';
  if (failed.length) {
    throw ApplicationFailure.create({
      type: 'CampaignsFailed',
      nonRetryable: true,
      message: `${failed.length} of ${progress.campaigns.length} campaigns failed for slot ${plan.slotLabel}: `
        + failed.map((o) => `${o.campaign} (${o.error})`).join('; '),
      details: [result],
    });
  }
  return result;
}
