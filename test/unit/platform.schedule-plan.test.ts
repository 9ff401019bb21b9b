// `etl schedules apply`'s three-way comparison, field by field (the real-server cases: platform.schedules-apply.test.ts):
// here the schedules made before apply recorded anything, whose pause state stays the operator's.
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { hashView, planSchedule } from '../../schedules';
import type { ScheduleView } from '../../schedules/schedule-view';

const code: ScheduleView = {
  cron: '0 3 * * *', timezone: 'America/Sao_Paulo', workflowType: 'incrementalSync', taskQueue: 'etl-incremental-sync',
  workflowId: 'incremental-sync-scheduled', input: '[{}]', overlap: 'SKIP', catchupWindow: '1 hour', state: 'active',
};

describe('schedules apply, three ways', () => {
  it('a schedule without a record of the last apply: the code\'s fields are applied, its pause state stays the operator\'s', () => {
    const server = { ...code, cron: '0 2 * * *', state: 'paused' };
    const plan = planSchedule('incremental-sync-daily', code, server, undefined);
    assert.equal(plan.unrecorded, true);
    assert.deepEqual(plan.changes, [{ field: 'cron', from: '0 2 * * *', to: '0 3 * * *' }]);
    assert.deepEqual(plan.kept, [{ field: 'state', server: 'paused', code: 'active' }]);
    assert.deepEqual(plan.conflicts, []);
  });

  it('with a record: the code pausing or unpausing is applied; the operator\'s own pause is kept', () => {
    const recorded = (view: ScheduleView) => ({ view, hash: hashView(view) });
    const codeUnpauses = planSchedule('s', code, { ...code, state: 'paused' }, recorded({ ...code, state: 'paused' }));
    assert.deepEqual(codeUnpauses.changes, [{ field: 'state', from: 'paused', to: 'active' }]);
    const operatorPaused = planSchedule('s', code, { ...code, state: 'paused' }, recorded(code));
    assert.deepEqual([operatorPaused.changes, operatorPaused.kept.map((k) => k.field)], [[], ['state']]);
  });
});
