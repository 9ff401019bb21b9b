// Schedules as code that do not fight operators: `etl schedules apply` compares the code now, what the code last
// applied (recorded in the schedule's memo) and the server now. Each case against the real Temporal server, in a
// namespace of this file's own, with a data folder of its own (where the sample-data record lives).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { Client, type ScheduleHandle } from '@temporalio/client';
import type { AppliedSchedule } from '../../schedules';
import { recordSampleData } from '../../lib/sample-data/marker';
import { etl, type CliResult } from '../helpers/cli';
import { newNamespace, openTestContext, type TestContext } from '../helpers/env';

interface DiffRow {
  scheduleId: string;
  changes: { field: string; from: string; to: string }[];
  kept: { field: string; server: string; code: string }[];
  conflicts: { field: string; lastApplied: string; code: string; server: string }[];
}

describe('etl schedules apply: code, last applied and server, three ways', () => {
  let ctx: TestContext;
  let client: Client;
  let env: NodeJS.ProcessEnv;
  let dataDir: string;

  beforeAll(async () => {
    ctx = await openTestContext('schedules-apply', { worker: false });
    const namespace = await newNamespace(ctx.client, 'apply');
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'etl-apply-'));
    env = { TEMPORAL_NAMESPACE: namespace, ETL_DATA_DIR: dataDir };
    client = new Client({ connection: ctx.client.connection, namespace, dataConverter: ctx.client.options.dataConverter });
  });
  afterAll(async () => {
    rmSync(dataDir, { recursive: true, force: true });
    await ctx?.close();
  });

  const apply = async (args: string[] = [], extra: NodeJS.ProcessEnv = {}): Promise<CliResult & { bySchedule: Map<string, AppliedSchedule> }> => {
    const result = await etl(['schedules', 'apply', ...args], { ...env, ...extra });
    const applied = (result.json ?? []) as AppliedSchedule[];
    return { ...result, bySchedule: new Map(applied.map((a) => [a.scheduleId, a])) };
  };
  const sync = (): ScheduleHandle => client.schedule.getHandle('incremental-sync-daily');

  it('creates each schedule with a record of what it applied; without sample data, those that need input wait paused, saying what to set', async () => {
    const first = await apply();
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual([...first.bySchedule.values()].map((a) => a.change), ['created', 'created', 'created', 'created', 'created']);
    const described = await sync().describe();
    const record = described.memo?.etlApplied as { hash: string; view: { cron: string; state: string } };
    assert.equal(record.hash, first.bySchedule.get('incremental-sync-daily')?.appliedHash);
    assert.equal(record.view.cron, '0 3 * * *');
    assert.equal(described.state.paused, true);
    assert.match(described.state.note ?? '', /^input not configured: set sourceTable \(and targetTable\) in the schedule's input, then unpause/);
    for (const id of ['crm-features-daily', 'sales-warehouse-hourly', 'mailing-campaigns-hourly']) {
      const state = (await client.schedule.getHandle(id).describe()).state;
      assert.equal(state.paused, true, id);
      assert.match(state.note ?? '', /^input not configured: .*npx etl sample-data/, id);
    }
    const again = await apply();
    assert.deepEqual([...again.bySchedule.values()].map((a) => a.change), ['unchanged', 'unchanged', 'unchanged', 'unchanged', 'unchanged']);
  });

  it('keeps and reports what the operator changed (the input set in the Web UI, the schedule unpaused)', async () => {
    // As an operator does in the Web UI: the input points at the real table, and the schedule is unpaused.
    await sync().update((live) => ({ ...live, action: { ...live.action, args: [{ sourceTable: 'public.real_conversations' }] } }));
    await sync().unpause('input set to the real table');
    const result = await apply();
    assert.equal(result.code, 0, result.stderr);
    const applied = result.bySchedule.get('incremental-sync-daily')!;
    assert.equal(applied.change, 'unchanged');
    assert.deepEqual(applied.kept.map((k) => [k.field, k.server]), [
      ['input', '[{"sourceTable":"public.real_conversations"}]'], ['state', 'active']]);
    assert.match(result.stderr, /incremental-sync-daily: unchanged\n {2}input: kept \[\{"sourceTable":"public\.real_conversations"\}\] \(changed on the server, not in the code\)/);
    const described = await sync().describe();
    assert.equal(described.state.paused, false);
    assert.deepEqual(described.action.type === 'startWorkflow' && described.action.args, [{ sourceTable: 'public.real_conversations' }]);
  });

  it('applies what the code changed, and leaves the operator\'s changes of other fields alone', async () => {
    const result = await apply([], { SYNC_SCHEDULE_CRON: '30 5 * * *' });
    assert.equal(result.code, 0, result.stderr);
    const applied = result.bySchedule.get('incremental-sync-daily')!;
    assert.equal(applied.change, 'updated');
    assert.deepEqual(applied.diff, [{ field: 'cron', from: '0 3 * * *', to: '30 5 * * *' }]);
    const described = await sync().describe();
    assert.equal(described.info.nextActionTimes[0].getUTCHours(), 8, '05:30 São Paulo is 08:30 UTC');
    assert.equal(described.state.paused, false, 'still unpaused');
    assert.deepEqual(described.action.type === 'startWorkflow' && described.action.args, [{ sourceTable: 'public.real_conversations' }]);
  });

  it('a field both changed is a conflict: apply keeps the server\'s and exits 1, diff shows it, --force takes the code\'s', async () => {
    // The code last applied 05:30; the operator moves it to 04:00; the code now says 06:00.
    await sync().update((live) => ({ ...live, spec: { ...live.spec, calendars: undefined, cronExpressions: ['0 4 * * *'] } }));
    const conflicted = await apply([], { SYNC_SCHEDULE_CRON: '0 6 * * *' });
    assert.equal(conflicted.code, 1);
    assert.deepEqual(conflicted.bySchedule.get('incremental-sync-daily')?.conflicts,
      [{ field: 'cron', lastApplied: '30 5 * * *', code: '0 6 * * *', server: '0 4 * * *' }]);
    assert.match(conflicted.stderr, /cron: CONFLICT, kept 0 4 \* \* \*; the code says 0 6 \* \* \*/);
    assert.match(conflicted.stderr, /see `etl schedules diff`; `etl schedules apply --force` takes the code's side/);
    assert.equal((await sync().describe()).info.nextActionTimes[0].getUTCHours(), 7, 'still 04:00 São Paulo');

    // The conflict stays one until someone decides: diff shows all three sides.
    const diff = await etl(['schedules', 'diff'], { ...env, SYNC_SCHEDULE_CRON: '0 6 * * *' });
    assert.equal(diff.code, 1);
    const row = (diff.json as DiffRow[]).find((d) => d.scheduleId === 'incremental-sync-daily')!;
    assert.deepEqual(row.conflicts, [{ field: 'cron', lastApplied: '30 5 * * *', code: '0 6 * * *', server: '0 4 * * *' }]);
    assert.deepEqual(row.kept.map((k) => k.field), ['input', 'state']);
    assert.match(diff.stderr, /incremental-sync-daily\s+cron\s+0 6 \* \* \*\s+30 5 \* \* \*\s+0 4 \* \* \*\s+CONFLICT/);

    const forced = await apply(['--force'], { SYNC_SCHEDULE_CRON: '0 6 * * *' });
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(forced.bySchedule.get('incremental-sync-daily')?.diff, [{ field: 'cron', from: '0 4 * * *', to: '0 6 * * *' }]);
    const described = await sync().describe();
    assert.equal(described.info.nextActionTimes[0].getUTCHours(), 9, '06:00 São Paulo');
    assert.deepEqual(described.action.type === 'startWorkflow' && described.action.args, [{ sourceTable: 'public.real_conversations' }],
      '--force takes the code\'s side of the conflict only');
    const clean = await etl(['schedules', 'diff'], { ...env, SYNC_SCHEDULE_CRON: '0 6 * * *' });
    assert.equal(clean.code, 0, clean.stderr);
  });

  it('pause state is the operator\'s unless the code says otherwise: sample data loaded unpauses, an operator\'s pause stays', async () => {
    // The operator pauses the sales schedule for a reason of their own (it was paused by code: now with their note).
    await client.schedule.getHandle('sales-warehouse-hourly').update((live) => ({ ...live, state: { ...live.state, note: 'not yet' } }));
    recordSampleData(dataDir, 'crm-features');
    const result = await apply();
    assert.equal(result.code, 0, result.stderr);
    const crm = result.bySchedule.get('crm-features-daily')!;
    assert.deepEqual(crm.diff, [{ field: 'state', from: 'paused', to: 'active' }]);
    assert.equal((await client.schedule.getHandle('crm-features-daily').describe()).state.paused, false);
    const sales = await client.schedule.getHandle('sales-warehouse-hourly').describe();
    assert.deepEqual([sales.state.paused, sales.state.note], [true, 'not yet']);
    // The operator pauses the crm schedule again: the code has not changed its mind, so apply keeps it paused.
    await client.schedule.getHandle('crm-features-daily').pause('model retraining this week');
    const later = await apply();
    assert.deepEqual(later.bySchedule.get('crm-features-daily')?.kept.map((k) => [k.field, k.server]), [['state', 'paused']]);
    assert.equal((await client.schedule.getHandle('crm-features-daily').describe()).state.note, 'model retraining this week');
  });
});
