// Which errors met while reading a source are retried and which fail the run at once, on errors the real servers
// give: a dropped or refused connection is retried; a missing object, a missing table or a file that is not a
// spreadsheet is the input's fault.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { readSheetRows } from '../../lib/io/spreadsheet-rows';
import { createPool } from '../../lib/io/postgres';
import { createS3Client } from '../../lib/io/s3';
import { freePort } from '../../lib/stack/processes';
import { isTransient } from '../../lib/activity/errors';
import { settings } from '../helpers/env';

const failure = (promise: Promise<unknown>) => promise.then(() => assert.fail('expected an error'), (error: unknown) => error);

describe('errors while reading a source', () => {
  const s3 = createS3Client(settings.s3);
  const target = createPool(settings.postgres.databaseUrl);
  let closedPort: number;
  beforeAll(async () => {
    closedPort = await freePort();
  });
  afterAll(async () => {
    s3.destroy();
    await target.end();
  });

  it('are retried when a connection is refused or dropped', async () => {
    const unreachable = createPool(`postgres://etl:etl@127.0.0.1:${closedPort}/etl`);
    const refused = await failure(unreachable.query('SELECT 1'));
    await unreachable.end();
    assert.ok(isTransient(refused), `Postgres refused: ${String(refused)}`);

    const victim = await target.connect();
    victim.on('error', () => undefined);
    const { rows: [{ pid }] } = await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await target.query('SELECT pg_terminate_backend($1)', [pid]);
    const dropped = await failure(victim.query('SELECT 1'));
    victim.release(true);
    assert.ok(isTransient(dropped), `Postgres dropped the connection: ${String(dropped)}`);

    const s3Down = createS3Client({ ...settings.s3, endpoint: `http://127.0.0.1:${closedPort}` });
    const s3Refused = await failure(s3Down.send(new GetObjectCommand({ Bucket: settings.s3.bucket, Key: 'any' })));
    s3Down.destroy();
    assert.ok(isTransient(s3Refused), `S3 unreachable: ${String(s3Refused)}`);
  });

  it('fail at once when the object, the table or the file format is wrong', async () => {
    const missingObject = await failure(s3.send(new GetObjectCommand({ Bucket: settings.s3.bucket, Key: 'no/such/file.xlsx' })));
    assert.equal(isTransient(missingObject), false, `missing S3 object: ${String(missingObject)}`);

    const missingTable = await failure(target.query('SELECT * FROM no_such_table'));
    assert.equal(isTransient(missingTable), false, `missing table: ${String(missingTable)}`);

    const notXlsx = path.join(tmpdir(), `not-a-sheet-${process.pid}.xlsx`);
    writeFileSync(notXlsx, 'sale_id;amount\nS1;10\n');
    const unreadable = await failure((async () => {
      for await (const row of readSheetRows(notXlsx)) void row;
    })());
    assert.equal(isTransient(unreadable), false, `not an XLSX: ${String(unreadable)}`);
  });
});
