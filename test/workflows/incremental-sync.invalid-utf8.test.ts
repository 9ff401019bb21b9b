import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import pg from 'pg';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createSyncActivities } from '../../activities/incremental-sync';
import { createPool } from '../../lib/io/postgres';
import { dataConverter, temporalConnectionOptions } from '../../lib/temporal/connection';
import type { SyncResult } from '../../lib/contracts/incremental-sync';
import { openTestContext, settings, uniqueId, workflowBundle, type TestContext } from '../helpers/env';

// An old system's database in SQL_ASCII keeps whatever bytes it was given, e.g. Latin-1 "José".
const LEGACY_DB = 'legacy_ascii';

describe('a source with text that is not UTF-8', () => {
  let ctx: TestContext;
  let legacy: pg.Pool;
  const legacyUrl = settings.postgres.sourceAdminUrl.replace(/\/[^/]+$/, `/${LEGACY_DB}`);

  beforeAll(async () => {
    ctx = await openTestContext('utf8', { worker: false });
    const admin = new pg.Client(settings.postgres.sourceAdminUrl.replace(/\/[^/]+$/, '/postgres'));
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${LEGACY_DB}`);
    await admin.query(`CREATE DATABASE ${LEGACY_DB} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
    await admin.end();
    legacy = createPool(legacyUrl);
    await legacy.query(`CREATE TABLE clientes (id int PRIMARY KEY, nome text, cidade text, updated_at timestamptz NOT NULL DEFAULT now());
      INSERT INTO clientes (id, nome, cidade) VALUES (1, 'Ana', 'Recife'), (2, E'Jos\\xe9', E'S\\xe3o Paulo'), (3, 'Bia', 'Natal')`);
  });
  afterAll(async () => {
    await legacy?.end();
    await ctx?.close();
  });

  it('loads the row with the broken values as NULL, counts them and keeps the original bytes in quarantine', async () => {
    const connection = await NativeConnection.connect(temporalConnectionOptions(settings));
    const worker = await Worker.create({
      dataConverter: dataConverter(settings),
      connection,
      taskQueue: ctx.taskQueue,
      workflowBundle,
      activities: createSyncActivities({ source: legacy, target: ctx.target, sourceUrl: legacyUrl }),
    });
    const workflowId = uniqueId('utf8');
    const result = await worker.runUntil(ctx.client.workflow.execute('incrementalSync', {
      taskQueue: ctx.taskQueue, workflowId, args: [{ sourceTable: 'clientes', targetTable: 'legacy_clientes' }],
    })).finally(() => connection.close()) as SyncResult;
    assert.equal(result.rowsInserted, 3);
    assert.equal(result.valuesNulled, 2);
    const { rows } = await ctx.target.query('SELECT id, nome, cidade FROM legacy_clientes ORDER BY id');
    assert.deepEqual(rows, [{ id: 1, nome: 'Ana', cidade: 'Recife' }, { id: 2, nome: null, cidade: null }, { id: 3, nome: 'Bia', cidade: 'Natal' }]);
    const { rows: kept } = await ctx.target.query(
      `SELECT reason, row_data FROM etl_quarantine WHERE workflow_id = $1 ORDER BY reason`, [workflowId]);
    assert.deepEqual(kept.map((k) => k.reason), ['column cidade: invalid UTF-8, loaded as NULL', 'column nome: invalid UTF-8, loaded as NULL']);
    assert.equal(kept[1].row_data.bytes_hex, Buffer.from('Jos\xe9', 'latin1').toString('hex'));
    assert.deepEqual(kept[1].row_data.key, ['2']);
  });
});
