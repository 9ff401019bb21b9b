// The Temporal Web UI in a real (headless) Chromium: an operator starts incrementalSync from the Start Workflow form,
// watches it complete, opens it, and reads its activities and its result, decoded by our codec server.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { Client } from '@temporalio/client';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ENCRYPTED_ENCODING } from '../../lib/temporal/codec';
import { projectRoot } from '../../lib/config/env';
import { seedConversations } from '../../lib/sample-data/incremental-sync';
import { openTestContext, settings, uniqueId, type TestContext } from '../helpers/env';

/** Screenshots land here (git-ignored with the rest of .data/). */
const TEST_OUTPUT = path.join(projectRoot, '.data', 'test-output');

function chromiumPath(): string | undefined {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      return execFileSync('which', [name], { encoding: 'utf8' }).trim() || undefined;
    } catch {
      // not this name
    }
  }
  return undefined;
}

const executablePath = chromiumPath();

async function waitForStatus(page: Page, status: string): Promise<void> {
  const badge = page.getByText(status, { exact: false }).first();
  for (let attempt = 0; attempt < 30; attempt++) {
    if (await badge.isVisible()) return;
    await page.waitForTimeout(1500);
    if (!(await badge.isVisible())) await page.reload();
  }
  await badge.waitFor({ timeout: 5000 });
}

const skipReason = executablePath ? undefined : 'Chromium is not installed (apt-get install chromium, or set CHROMIUM_PATH); .ci/run installs it';
// jest's summary only counts a skipped test: the reason is printed, and is in the suite's name.
if (skipReason) console.warn(`the Web UI browser test is skipped: ${skipReason}`);

(skipReason ? describe.skip : describe)(`the Temporal Web UI in a real browser${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let ctx: TestContext;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    ctx = await openTestContext('web-ui');
    // The form's `{}` syncs the default table, public.conversations.
    await seedConversations(ctx.sourceAdmin, ctx.target, 300);
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.setDefaultTimeout(30_000);
  });
  afterAll(async () => {
    await browser?.close();
    await ctx?.close();
  });

  it('starts incrementalSync from Start Workflow with {}, sees it complete, its activities and its decoded result', async () => {
    const ui = settings.temporal.webUi!;
    const namespace = encodeURIComponent(settings.temporal.namespace);
    const workflowId = uniqueId('ui-sync');
    mkdirSync(TEST_OUTPUT, { recursive: true });
    try {
      await page.goto(`${ui}/namespaces/${namespace}/workflows/start-workflow`);
      await page.locator('#workflowId').fill(workflowId);
      await page.locator('#taskQueue').fill(ctx.taskQueue);
      await page.locator('#workflowType').fill('incrementalSync');
      const data = page.getByRole('textbox', { name: 'Data' });
      await data.click();
      await page.keyboard.insertText('{}');
      await page.getByRole('button', { name: 'Start Workflow' }).click();

      // The UI confirms with a link to the new run; it completes while we watch (the page is reloaded while it runs).
      await page.getByRole('link', { name: 'Workflow started successfully' }).click();
      await page.waitForURL(new RegExp(`/workflows/${workflowId}/`));
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
      await page.screenshot({ path: path.join(TEST_OUTPUT, 'web-ui-incremental-sync.png'), fullPage: true });
    }
  });
});
