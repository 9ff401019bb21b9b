import { heartbeat } from '@temporalio/activity';

/**
 * For an activity that is one long statement or COPY: a heartbeat every 5 s while it runs tells Temporal the worker
 * is alive, so a dead worker is noticed after the heartbeat timeout (20 s) and the step retried elsewhere.
 */
export function beating<A extends unknown[], R>(work: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    const timer = setInterval(() => heartbeat(), 5000);
    try {
      return await work(...args);
    } finally {
      clearInterval(timer);
    }
  };
}
