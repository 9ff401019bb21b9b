// The lake watcher started and stopped from the Temporal Web UI in a real (headless) Chromium, as
// docs/pipelines/sales-warehouse.md#event-trigger tells operators: Start Workflow with the input JSON, a file put in
// the lake starts a salesWarehouse run, and the signal `stop` sent from the watcher's page ends it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { Browser, Page } from 'playwright-core';
import type { SalesWarehouseResult } from '../../lib/contracts/sales-warehouse';
import { watcherId } from '../../lib/contracts/sales-warehouse-watcher';
import { createS3Client } from '../../lib/io/s3';
import { openTestContext, settings, type TestContext } from '../helpers/env';
import { csvExport, LOOSE } from '../helpers/sales-warehouse';
import { openBrowser, screenshot, skipReason, startWorkflowInUi, suiteName, waitForStatus } from '../helpers/web-ui';

(skipReason ? describe.skip : describe)(suiteName('the lake watcher from the Web UI'), () => {
  let ctx: TestContext;
  let browser: Browser;
  let page: Page;
  const s3 = createS3Client(settings.s3);
  const prefix = `lake-ui-${randomUUID().slice(0, 8)}/incoming/`;

  beforeAll(async () => {
    ctx = await openTestContext('watch-ui');
    ({ browser, page } = await openBrowser());
  });
  afterAll(async () => {
    await browser?.close();
    s3.destroy();
    await ctx?.close();
  });

  it('started from Start Workflow, starts a run for a new file, and ends on the signal stop sent from its page', async () => {
    const workflowId = watcherId(prefix);
    const watcher = ctx.client.workflow.getHandle(workflowId);
    try {
      await startWorkflowInUi(page, { workflowId, taskQueue: ctx.taskQueue, workflowType: 'salesLakeWatcher',
        input: JSON.stringify({ prefix, pollSeconds: 1, run: { asOf: '2024-02-20', thresholds: LOOSE } }) });
      await waitForStatus(page, 'Running');

      await s3.send(new PutObjectCommand({ Bucket: settings.s3.bucket, Key: `${prefix}vendas.csv`, Body: csvExport }));
      let runs: { workflow_id: string }[] = [];
      for (let i = 0; i < 300 && runs.length === 0; i++) {
        await sleep(100);
        runs = (await ctx.target.query('SELECT workflow_id FROM sales_etl.lake_files WHERE key LIKE $1', [`${prefix}%`])).rows;
      }
      assert.equal(runs.length, 1, 'one run for the new file');
      const run = await ctx.client.workflow.getHandle(runs[0].workflow_id).result() as SalesWarehouseResult;
      assert.equal(run.rowsLoaded, 3);

      // More Actions > Send a Signal: the signal `stop`, no input.
      await page.getByRole('button', { name: 'More Actions' }).click();
      await page.getByTestId('signal-button').filter({ visible: true }).click();
      const dialog = page.getByRole('dialog');
      // The signals the watcher defines are offered by name.
      await dialog.getByTestId('signal-select-button').click();
      await dialog.getByRole('option', { name: 'stop', exact: true }).click();
      await dialog.getByRole('button', { name: 'Submit' }).click();
      await waitForStatus(page, 'Completed');
      const result = await watcher.result();
      assert.deepEqual(result, { stopped: true, polls: result.polls, filesStarted: 1 });
      assert.equal((await ctx.client.workflow.getHandle(runs[0].workflow_id).describe()).status.name, 'COMPLETED', 'no run left running');
    } finally {
      await screenshot(page, 'web-ui-lake-watcher');
      await watcher.terminate().catch(() => undefined);
    }
  });
});
