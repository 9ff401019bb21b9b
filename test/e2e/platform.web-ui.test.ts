// The Temporal Web UI in a real (headless) Chromium: an operator starts incrementalSync from the Start Workflow form,
// watches it complete, opens it, and reads its activities and its result, decoded by our codec server.
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { Client } from '@temporalio/client';
import type { Browser, Page } from 'playwright-core';
import { ENCRYPTED_ENCODING } from '../../lib/temporal/codec';
import { seedConversations } from '../../lib/sample-data/incremental-sync';
import { openTestContext, settings, uniqueId, type TestContext } from '../helpers/env';
import { openBrowser, screenshot, skipReason, startWorkflowInUi, suiteName, waitForStatus } from '../helpers/web-ui';

(skipReason ? describe.skip : describe)(suiteName('the Temporal Web UI in a real browser'), () => {
  let ctx: TestContext;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    ctx = await openTestContext('web-ui');
    // The form's `{}` syncs the default table, public.conversations.
    await seedConversations(ctx.sourceAdmin, ctx.target, 300);
    ({ browser, page } = await openBrowser());
  });
  afterAll(async () => {
    await browser?.close();
    await ctx?.close();
  });

  it('starts incrementalSync from Start Workflow with {}, sees it complete, its activities and its decoded result', async () => {
    const workflowId = uniqueId('ui-sync');
    try {
      // The run completes while we watch (the page is reloaded while it runs).
      await startWorkflowInUi(page, { workflowId, taskQueue: ctx.taskQueue, workflowType: 'incrementalSync', input: '{}' });
      await waitForStatus(page, 'Completed');

      // The activities, by name, in the run's history.
      for (const activity of ['prepareSync', 'copyChangedRows', 'finishSync']) {
        await page.getByText(activity).first().waitFor();
      }
      // The result is encrypted on the server; the UI shows it decoded through the codec server.
      await page.getByText('"pipeline": "incrementalSync"').first().waitFor();
      await page.getByText('"sourceTable": "public.conversations"').first().waitFor();
      // Read through our own client (with the key), the run agrees with what the UI showed.
      const result = await ctx.client.workflow.getHandle(workflowId).result() as { pipeline: string; status: string };
      assert.equal(result.status, 'success');
      // ...and what the UI showed was decoded: the server holds the result encrypted.
      const raw = new Client({ connection: ctx.client.connection, namespace: settings.temporal.namespace });
      const events = (await raw.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
      const stored = events.find((e) => e.workflowExecutionCompletedEventAttributes)?.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0];
      assert.equal(Buffer.from(stored?.metadata?.encoding ?? []).toString(), ENCRYPTED_ENCODING);
    } finally {
      await screenshot(page, 'web-ui-incremental-sync');
    }
  });
});
