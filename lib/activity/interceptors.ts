// What every activity of every pipeline gets from the worker, whatever its code does: a failure caused by a lost or
// refused connection leaves as a retryable `ConnectionError` (lib/activity/errors.ts), not as a bare Error.
import type { ActivityInboundCallsInterceptor, ActivityInterceptorsFactory } from '@temporalio/worker';
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

export const activityInterceptors: ActivityInterceptorsFactory[] = [() => ({ inbound: connectionErrors })];
