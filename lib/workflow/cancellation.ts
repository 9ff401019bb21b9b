// How a workflow's activities end when its run is cancelled (Web UI, CLI).
import { ActivityCancellationType, patched } from '@temporalio/workflow';

/** Before this patch, a cancelled run went on to its cleanup (and its end) while its activities might still be writing. */
const WAIT_FOR_CANCELLED_ACTIVITIES = 'etl-wait-for-cancelled-activities';

/**
 * The run waits until a cancelled activity has stopped (the worker ends its database statements, see
 * lib/activity/interceptors.ts) before it drops its staging and ends: when the run says cancelled, nothing of it still
 * writes. Histories recorded before the patch keep the old way (the run went on at once).
 */
export function cancellationType(): ActivityCancellationType {
  return patched(WAIT_FOR_CANCELLED_ACTIVITIES) ? ActivityCancellationType.WAIT_CANCELLATION_COMPLETED : ActivityCancellationType.TRY_CANCEL;
}
