import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import ExcelJS from 'exceljs';
import SftpClient from 'ssh2-sftp-client';
import type { EnrichmentResult } from '../../lib/contracts/marketing-enrichment';
import { createS3Client } from '../../lib/io/s3';
import { openTestContext, settings, startOptions, type TestContext } from '../helpers/env';
import { exportFolder, customerRows, geminiSettings, tempDir, writeCustomersXlsx } from '../helpers/marketing-enrichment';

describe('marketingEnrichment without GEMINI_API_KEY, from an XLSX in S3 to S3 and SFTP', () => {
  let ctx: TestContext;
  const dir = tempDir('marketing-offline');
  const s3 = createS3Client(settings.s3);

  beforeAll(async () => {
    ctx = await openTestContext('marketing-offline', { settings: geminiSettings(undefined) });
  });
  afterAll(async () => {
    s3.destroy();
    await ctx?.close();
  });

  it('fills messages from templates, says plainly that no AI was called, and publishes the files', async () => {
    const xlsx = path.join(dir, 'clientes.xlsx');
    await writeCustomersXlsx(xlsx, customerRows('OFF', 60, [{ id: 'OFF-900001', interesse: 'Bitcoin' }]));
    await s3.send(new PutObjectCommand({ Bucket: settings.s3.bucket, Key: 'inputs/clientes-off.xlsx', Body: readFileSync(xlsx) }));

    const result = await ctx.client.workflow.execute('marketingEnrichment', {
      ...startOptions(ctx, 'mkt-offline'),
      args: [{ customers: 's3:inputs/clientes-off.xlsx', campaign: 'offline', batchSize: 25,
        outputs: { folder: exportFolder('offline').folder, s3Prefix: 'exports/marketing', sftpFolder: 'marketing' } }],
    }) as EnrichmentResult;
    assert.equal(result.provider, 'offline');
    assert.match(result.note ?? '', /no AI was called/);
    assert.equal(result.requests, 0);
    assert.equal(result.tokens, null);
    assert.equal(result.enriched, 60);
    assert.equal(result.customersQuarantined, 1);
    const { rows } = await ctx.target.query(`SELECT DISTINCT provider, model FROM marketing_messages WHERE campaign = 'offline'`);
    assert.deepEqual(rows, [{ provider: 'offline', model: null }]);

    const s3Xlsx = result.files.find((f) => f.startsWith('s3://') && f.endsWith('.xlsx'))!;
    assert.match(s3Xlsx, new RegExp(`^s3://${settings.s3.bucket}/exports/marketing/marketing_offline_\\d{4}-\\d{2}-\\d{2}_\\d{2}-\\d{2}-\\d{2}\\.xlsx$`));
    const object = await s3.send(new GetObjectCommand({ Bucket: settings.s3.bucket, Key: s3Xlsx.split('/').slice(3).join('/') }));
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.load((await object.Body!.transformToByteArray()).buffer as ArrayBuffer);
    const sheet = workbook.getWorksheet('Mensagens')!;
    assert.equal(sheet.rowCount, 61);
    assert.equal(sheet.getRow(2).getCell(12).value, 'offline');
    assert.match(String(workbook.getWorksheet('Resumo')!.getRow(10).getCell(2).value), /^offline \(sem IA/);

    const sftp = new SftpClient();
    await sftp.connect({ host: settings.sftp.host, port: settings.sftp.port, username: settings.sftp.user,
      privateKey: readFileSync(settings.sftp.privateKeyFile!) });
    try {
      const names = (await sftp.list('marketing')).map((f) => f.name).sort();
      const published = result.files.filter((f) => f.startsWith('sftp://')).map((f) => path.posix.basename(f)).sort();
      assert.equal(published.length, 2);
      assert.deepEqual(names, published, 'both files, and no temporary .part file left behind');
    } finally {
      await sftp.end();
    }
  });
});
