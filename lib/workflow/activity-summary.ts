import type { ActivityFunction } from '@temporalio/common';
import type { ActivityFunctionWithOptions } from '@temporalio/workflow';

/**
 * The activity, called with a one-line summary of what it acts on (table, file, campaign, batch). The Web UI
 * shows it on the activity's events and in the timeline, so a history reads without opening each payload.
 */
export function summarized<F extends ActivityFunction>(activity: ActivityFunctionWithOptions<F>, summary: string) {
  return (...args: Parameters<F>): Promise<Awaited<ReturnType<F>>> => activity.executeWithOptions({ summary }, args);
}
