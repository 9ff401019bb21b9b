// Every retry policy the workflows use, named by the kind of step it suits. Each stops at once on the permanent
// error types (lib/workflow/errors.ts); everything else (a dropped connection, a server restarting) is retried.
import type { RetryPolicy } from '@temporalio/common';
import { PERMANENT_ERRORS } from './errors';

const policy = (initialInterval: string, maximumInterval: string, maximumAttempts: number): RetryPolicy =>
  ({ initialInterval, backoffCoefficient: 2, maximumInterval, maximumAttempts, nonRetryableErrorTypes: PERMANENT_ERRORS });

export const retryPolicies = {
  /** A short step against a database or a file: 1 s, doubling to 1 min, 8 attempts (about 4 minutes). */
  shortStep: policy('1s', '1 minute', 8),
  /** A long copy that resumes from its heartbeat: 2 s, doubling to 2 min, 10 attempts. */
  resumableCopy: policy('2s', '2 minutes', 10),
  /**
   * One big set-based statement (clean, features, load): 1 s, doubling to 2 min, 10 attempts (about 6 minutes of
   * waiting), so a database or S3 restart of a few minutes is ridden out; each attempt redoes the step whole.
   */
  bigStatement: policy('1s', '2 minutes', 10),
  /** Planning a mailing slot: 1 s, doubling to 30 s, 5 attempts. */
  planning: policy('1s', '30s', 5),
  /**
   * One campaign's delivery: 5 s, doubling to 1 min, 5 attempts (about two minutes): the dialer should not wait longer
   * than that for its slot's file.
   */
  delivery: policy('5s', '1 minute', 5),
  /** One model request: 2 s, doubling to 2 min, 12 attempts; a 429 waits as long as the server asks instead. */
  modelRequest: policy('2s', '2 minutes', 12),
} satisfies Record<string, RetryPolicy>;
