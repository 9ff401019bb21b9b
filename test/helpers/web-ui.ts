// The Temporal Web UI in a real (headless) Chromium, for the tests that drive it as an operator would.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { projectRoot } from '../../lib/config/env';
import { settings } from './env';

/** Screenshots land here (git-ignored with the rest of .data/). */
export const TEST_OUTPUT = path.join(projectRoot, '.data', 'test-output');

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

/** Why the browser tests are skipped, if they are; jest's summary only counts a skipped test, so say it. */
export const skipReason = executablePath ? undefined : 'Chromium is not installed (apt-get install chromium, or set CHROMIUM_PATH); .ci/run installs it';
if (skipReason) console.warn(`the Web UI browser tests are skipped: ${skipReason}`);

/** `describe`, or `describe.skip` with the reason in the suite's name when there is no Chromium. */
export const suiteName = (name: string): string => `${name}${skipReason ? ` (skipped: ${skipReason})` : ''}`;

export async function openBrowser(): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(30_000);
  mkdirSync(TEST_OUTPUT, { recursive: true });
  return { browser, page };
}

export const screenshot = (page: Page, name: string) => page.screenshot({ path: path.join(TEST_OUTPUT, `${name}.png`), fullPage: true });

/** Fills the Start Workflow form as an operator would, starts the run and opens it. */
export async function startWorkflowInUi(page: Page, form: { workflowId: string; taskQueue: string; workflowType: string; input: string }): Promise<void> {
  const namespace = encodeURIComponent(settings.temporal.namespace);
  await page.goto(`${settings.temporal.webUi!}/namespaces/${namespace}/workflows/start-workflow`);
  await page.locator('#workflowId').fill(form.workflowId);
  await page.locator('#taskQueue').fill(form.taskQueue);
  await page.locator('#workflowType').fill(form.workflowType);
  await page.getByRole('textbox', { name: 'Data' }).click();
  await page.keyboard.insertText(form.input);
  // Leaving the editor reformats the JSON, which moves the button: leave it first, or the click lands beside it.
  await page.getByRole('heading', { name: 'Start Workflow' }).click();
  await page.getByRole('button', { name: 'Start Workflow' }).click();
  // The UI confirms with a link to the new run.
  await page.getByRole('link', { name: 'Workflow started successfully' }).click();
  await page.waitForURL(new RegExp(`/workflows/${encodeURIComponent(form.workflowId)}/`));
}

/** Waits, reloading the run's page, until its status badge reads `status` (not an event of its history). */
export async function waitForStatus(page: Page, status: string): Promise<void> {
  const badge = page.getByTestId('execution-status').filter({ hasText: status }).first();
  for (let attempt = 0; attempt < 30; attempt++) {
    if (await badge.isVisible()) return;
    await page.waitForTimeout(1500);
    if (!(await badge.isVisible())) await page.reload();
  }
  await badge.waitFor({ timeout: 5000 });
}
