// `etl run`'s progress line on a terminal (the live one: platform.run-progress.test.ts): where the pipeline counts its
// items against a total, the line has the rate of items and the time left.
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { progressLine, snapshotOf } from '../../cli/progress';

describe('the progress line', () => {
  it('step, done/total, rows and batches from the query and the heartbeat, the rate and the ETA', () => {
    const snapshot = snapshotOf({ step: 'enriching', done: 400, total: 1000 }, { rowsDone: 400, batches: 8 });
    assert.equal(progressLine(snapshot, { perSecond: 20, unit: 'items' }), 'enriching · 400/1,000 · 400 rows · 8 batches · 20 items/s · ETA 30 s');
    assert.equal(progressLine(snapshotOf({ step: 'copying changed rows' }, { rows: 120_000 }), { perSecond: 40_000, unit: 'rows' }),
      'copying changed rows · 120,000 rows · 40,000 rows/s', 'no total: no ETA');
  });
});
