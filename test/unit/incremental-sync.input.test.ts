import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { syncInputSchema } from '../../lib/contracts/incremental-sync';
import { describeIssues } from '../../lib/workflow/validation';

describe('incrementalSync input', () => {
  it('{} is the demo table with sensible defaults', () => {
    assert.deepEqual(syncInputSchema.parse({}), {
      sourceTable: 'public.conversations', keyColumns: ['id'], updatedAtColumn: 'updated_at', full: false,
      deleteMissing: false, batchSize: 50_000, overlapSeconds: 300, changeDetection: 'auto',
    });
  });

  it('explains each problem with its field', () => {
    const parsed = syncInputSchema.safeParse({ sourceTable: 'drop table x;', batchSize: 0, colour: 'blue' });
    assert.equal(parsed.success, false);
    const message = describeIssues('input', parsed.error!);
    assert.match(message, /input\.sourceTable: must be table or schema\.table/);
    assert.match(message, /input\.batchSize: /);
    assert.match(message, /input: unknown field "colour"/);
  });

  it('deleteMissing only with full', () => {
    const parsed = syncInputSchema.safeParse({ deleteMissing: true });
    assert.match(describeIssues('input', parsed.error!), /input\.deleteMissing: deleteMissing needs full: true/);
  });
});
