// What every activity of every pipeline gets from the worker, whatever its code does:
// - a failure caused by a lost or refused connection leaves as a retryable `ConnectionError` (lib/activity/errors.ts),
//   not as a bare Error;
// - the database connections it checks out are tracked, and when the attempt is cancelled (the run was cancelled in
//   the Web UI or CLI, or Temporal gave up on the attempt) their statements are ended at once: nothing the attempt was
//   writing commits after that, and the run's cleanup (dropping its staging) does not wait on its locks.
import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import type { ActivityInboundCallsInterceptor, ActivityInterceptorsFactory } from '@temporalio/worker';
import { HeldConnections, heldConnections } from '../io/postgres';
import { asConnectionFailure } from './errors';

const connectionErrors: ActivityInboundCallsInterceptor = {
  async execute(input, next) {
    try {
      return await next(input);
    } catch (error) {
      throw asConnectionFailure(error);
    }
  },
};

const endedWithTheAttempt: ActivityInboundCallsInterceptor = {
  async execute(input, next) {
    const held = new HeldConnections();
    const signal = Context.current().cancellationSignal;
    const terminate = () => void held.terminate().catch(() => undefined);
    signal.addEventListener('abort', terminate, { once: true });
    try {
      return await heldConnections.run(held, () => next(input));
    } catch (error) {
      // Whatever the ended statement raised, a cancelled attempt reports its cancellation (not a failure to retry).
      if (signal.aborted && signal.reason instanceof CancelledFailure && signal.reason.message === 'CANCELLED') throw signal.reason;
      throw error;
    } finally {
      signal.removeEventListener('abort', terminate);
    }
  },
};

export const activityInterceptors: ActivityInterceptorsFactory[] = [
  () => ({ inbound: endedWithTheAttempt }),
  () => ({ inbound: connectionErrors }),
];
