import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { CrmFeaturesResult } from '../../lib/contracts/crm-features';
import { createS3Client } from '../../lib/io/s3';
import { putLakeFile, toCsv, toJsonLines, TRANSACTION_COLUMNS } from '../../lib/sample-data/crm-features';
import { AS_OF, EXPECTED_REASONS, expectedFeatures, handChecked, loadedFeatures, writeDataset, type LakeFormat } from '../helpers/crm-features';
import { openTestContext, settings, startOptions, uniqueId, type TestContext } from '../helpers/env';

describe('crmFeatures on a hand-checked dataset', () => {
  let ctx: TestContext;
  const s3 = createS3Client(settings.s3);
  const deps = () => ({ sourceAdmin: ctx.sourceAdmin, s3, bucket: settings.s3.bucket });

  beforeAll(async () => {
    ctx = await openTestContext('crm-features');
  });
  afterAll(async () => {
    s3.destroy();
    await ctx?.close();
  });

  it('cleans, quarantines with reasons, computes every feature as worked out by hand, merges with a backup', async () => {
    const p = `${uniqueId('hc')}-`;
    const table = `crm_hc_${p.slice(3, 11)}`;
    const prefix = `lake/${p}`;
    await writeDataset(deps(), table, prefix, handChecked(p), ['parquet', 'csv', 'json']);
    const opts = startOptions(ctx, 'crm-hc');
    const result = await ctx.client.workflow.execute('crmFeatures', {
      ...opts, args: [{ sourceTable: table, lakePrefix: `s3:${prefix}`, asOf: AS_OF, allowHigh: true }],
    }) as CrmFeaturesResult;
    assert.equal(result.recordsExtracted, 11 + 8 + 5);
    assert.equal(result.bySource[table], 11);
    assert.equal(result.recordsQuarantined, 5);
    assert.equal(result.recordsCleaned, 19);
    assert.equal(result.usersTransformed, 4);
    assert.equal(result.recordsLoaded, 4);
    assert.match(result.backupTable ?? '', /^ml_features\.user_features_backup_\d{17}$/);
    assert.deepEqual(result.steps.map((s) => s.step), ['extract', 'clean', 'features', 'validate', 'load']);
    assert.equal(result.quality?.passed, true);
    // 1 duplicate and 2 rule breaks in 24 rows (4 % and 8 %) fail two high checks: loaded because allowHigh, and reported.
    assert.deepEqual([result.quality?.criticalFailures, result.quality?.highFailures, result.quality?.allowHigh], [[], ['duplicates', 'business_rules'], true]);

    const { rows } = await ctx.target.query(`SELECT reason, count(*)::int AS n FROM etl_quarantine WHERE workflow_id = $1 GROUP BY 1`,
      [opts.workflowId]);
    assert.deepEqual(Object.fromEntries(rows.map((r) => [r.reason, r.n])), EXPECTED_REASONS);
    assert.deepEqual(await loadedFeatures(ctx.target, p), expectedFeatures(p));
  });

  it('gives the same features whether the lake holds Parquet, CSV or JSON lines', async () => {
    for (const format of ['parquet', 'csv', 'json'] as LakeFormat[]) {
      const p = `${uniqueId(format.slice(0, 2))}-`;
      const table = `crm_fmt_${p.slice(3, 11)}`;
      const prefix = `lake/${p}`;
      await writeDataset(deps(), table, prefix, handChecked(p), [format]);
      const result = await ctx.client.workflow.execute('crmFeatures', {
        ...startOptions(ctx, `crm-${format}`), args: [{ sourceTable: table, lakePrefix: `s3:${prefix}`, asOf: AS_OF, allowHigh: true }],
      }) as CrmFeaturesResult;
      assert.equal(result.recordsQuarantined, 5, format);
      assert.deepEqual(await loadedFeatures(ctx.target, p), expectedFeatures(p), format);
    }
  });

  it('reads messy lake files like tidy ones: ; with a BOM and padded values, a ragged CSV, JSON with blank and broken lines', async () => {
    const p = `${uniqueId('ms')}-`;
    const table = `crm_messy_${p.slice(3, 11)}`;
    const prefix = `lake/${p}`;
    const data = handChecked(p);
    await writeDataset(deps(), table, prefix, { ...data, lake: [], bad: [] }, []);
    const rows = [...data.lake, ...data.bad];
    const third = Math.ceil(rows.length / 3);
    const [semicolon, comma, json] = [rows.slice(0, third), rows.slice(third, 2 * third), rows.slice(2 * third)];
    const padded = semicolon.map((r) => TRANSACTION_COLUMNS.map((c) => (r[c] === null ? '' : `  ${r[c]} `)).join(';'));
    await putLakeFile(s3, settings.s3.bucket, `${prefix}a.csv`, Buffer.from(`\uFEFF${TRANSACTION_COLUMNS.join(';')}\r\n${padded.join('\r\n')}\r\n`));
    // A line with one field: Postgres refuses the file, the forgiving parser reads it (the short row is quarantined).
    await putLakeFile(s3, settings.s3.bucket, `${prefix}b.csv`, Buffer.concat([toCsv(comma), Buffer.from('ragged-line\n')]));
    await putLakeFile(s3, settings.s3.bucket, `${prefix}c.jsonl`, Buffer.concat([Buffer.from('\n{"transaction_id": "broken\n'), toJsonLines(json)]));

    const opts = startOptions(ctx, 'crm-messy');
    const result = await ctx.client.workflow.execute('crmFeatures', {
      // The ragged and the broken line have no transaction id: allowed here, so the run loads what it could read.
      ...opts, args: [{ sourceTable: table, lakePrefix: `s3:${prefix}`, asOf: AS_OF, allowHigh: true, thresholds: { nullPrimaryKeysMax: 2, completenessMin: 0.8 } }],
    }) as CrmFeaturesResult;
    assert.equal(result.recordsQuarantined, 7, '5 bad rows, the ragged line and the broken JSON line');
    assert.deepEqual(await loadedFeatures(ctx.target, p), expectedFeatures(p));
    const { rows: broken } = await ctx.target.query(`SELECT row_data->>'status' AS status FROM etl_quarantine
      WHERE workflow_id = $1 AND row_data->>'status' LIKE 'unparseable%'`, [opts.workflowId]);
    assert.deepEqual(broken, [{ status: `unparseable line 2 of ${prefix}c.jsonl` }]);
  });
});
