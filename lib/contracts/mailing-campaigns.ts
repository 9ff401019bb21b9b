// The mailingCampaigns pipeline's input, plan and result: shared by the workflow, its activities and the CLI.
import { z } from 'zod';
import type { Campaign } from './mailing-campaign-file';

export const mailingInputSchema = z.object({
  /** Deliver these campaigns now, whatever their active days and hours; by default every campaign active in the slot. */
  campaigns: z.array(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be a campaign name (a slug)')).min(1).optional(),
  /** The slot to deliver, an ISO time (floored to its hour); by default the schedule's slot, or the hour the run started. */
  slot: z.iso.datetime({ offset: true, message: 'must be an ISO time with offset, e.g. 2025-12-22T10:00:00-03:00' }).optional(),
  /** How many campaigns are delivered at once. */
  parallelism: z.number().int().min(1).max(32).default(4),
}).strict();

export type MailingInput = z.input<typeof mailingInputSchema>;

/** Where the time the slot is taken from came from: a schedule's action time, the input, or the run's start. */
export type SlotSource = 'schedule' | 'input' | 'start';

export interface PlanRequest {
  campaigns?: string[];
  time: string;
  slotSource: SlotSource;
}

/** One campaign's delivery, fully decided before anything is sent: the history shows what each step was told to do. */
export interface PlannedDelivery {
  campaign: Campaign;
  /** ISO instant of the slot (the hour, in the time zone). */
  slot: string;
  fileName: string;
  remotePath: string;
}

export interface MailingPlan {
  slot: string;
  /** "2025-12-22 10:00 America/Sao_Paulo". */
  slotLabel: string;
  slotSource: SlotSource;
  deliveries: PlannedDelivery[];
  /** Campaign files that failed validation: reported as failed campaigns, the others still deliver. */
  invalid: { campaign: string; error: string }[];
}

export type DeliveryStatus =
  /** Uploaded, verified and renamed by this run. */
  | 'delivered'
  /** Found delivered for this slot already (a retry, a replay, a second run for the slot): not sent again. */
  | 'already-delivered'
  /** A file of that name was already in the folder, put there by someone else: left alone, not overwritten. */
  | 'already-present'
  /** The query returned no rows and the campaign says send-nothing. */
  | 'empty-not-sent';

export interface DeliveryReceipt {
  campaign: string;
  status: DeliveryStatus;
  rows: number;
  bytes: number;
  sha256: string | null;
  fileName: string;
  remotePath: string;
  /** Whether the server's own checksum (md5sum over SSH) matched, when the server offers one. */
  remoteChecksum: 'matched' | 'not-offered' | null;
}

export interface CampaignOutcome {
  campaign: string;
  status: DeliveryStatus | 'failed' | 'pending' | 'running';
  rows: number;
  bytes: number;
  fileName: string | null;
  remotePath: string | null;
  sha256?: string | null;
  error?: string;
  errorType?: string;
}

export interface MailingResult {
  pipeline: 'mailingCampaigns';
  slot: string;
  slotLabel: string;
  slotSource: SlotSource;
  campaigns: CampaignOutcome[];
  delivered: number;
  failed: number;
  rows: number;
}
