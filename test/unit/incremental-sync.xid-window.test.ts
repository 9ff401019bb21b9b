// Snapshot mode starts at the previous run's oldest open transaction: a 64-bit xid8 taken down to the 32-bit xid rows
// carry, across an epoch boundary, and every row read instead once too many transactions have passed to compare.
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { sinceXidOf } from '../../activities/incremental-sync/prepare';

const EPOCH = 2n ** 32n;
const snapshot = (xmin: bigint) => ({ source_snapshot: `${xmin}:${xmin + 5n}:` });

describe('incrementalSync snapshot mode: where a run starts reading', () => {
  it('is the previous run\'s xmin as a 32-bit xid, in any epoch and across an epoch boundary', () => {
    assert.equal(sinceXidOf(snapshot(1000n), { xmax: '5000' }), '1000');
    assert.equal(sinceXidOf(snapshot(3n * EPOCH + 100n), { xmax: String(3n * EPOCH + 900n) }), '100');
    // The previous run just before the wrap, this one just after: age() compares them modulo 2^32.
    assert.equal(sinceXidOf(snapshot(EPOCH - 6n), { xmax: String(EPOCH + 50n) }), String(EPOCH - 6n));
  });

  it('reads every row when 2^31 transactions (less a safety margin) have passed, or no snapshot was recorded', () => {
    assert.equal(sinceXidOf(snapshot(1000n), { xmax: String(1000n + 2n ** 31n) }), undefined);
    assert.equal(sinceXidOf(snapshot(1000n), { xmax: String(1000n + 2n ** 31n - 10_000_000n) }), undefined);
    assert.equal(sinceXidOf(snapshot(1000n), { xmax: String(1000n + 2n ** 31n - 10_000_001n) }), '1000');
    assert.equal(sinceXidOf({ source_snapshot: null }, { xmax: '5000' }), undefined);
    assert.equal(sinceXidOf(undefined, { xmax: '5000' }), undefined);
  });
});
