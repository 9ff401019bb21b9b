// marketingEnrichment writes its exports only under the export root (ETL_EXPORT_DIR): an absolute folder, a ".." climb
// or a link inside the root pointing out fails the run with a message naming the field and the root, and no file
// lands outside it.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import type { EnrichmentInput } from '../../lib/contracts/marketing-enrichment';
import { openTestContext, settings, startOptions, type TestContext } from '../helpers/env';
import { exportFolder, tempDir, writeCustomers } from '../helpers/marketing-enrichment';

describe('marketingEnrichment exports stay under ETL_EXPORT_DIR', () => {
  let ctx: TestContext;
  const dir = tempDir('marketing-root');
  const customers = writeCustomers(dir, 'ROOT', 3);

  beforeAll(async () => {
    ctx = await openTestContext('marketing-root');
  });
  afterAll(async () => {
    await ctx?.close();
  });

  /** The run's failure, from the workflow itself or from the activity that raised it. */
  const failure = async (outputs: EnrichmentInput['outputs'], campaign: string) => {
    const error = await ctx.client.workflow.execute('marketingEnrichment', {
      ...startOptions(ctx, 'mkt-root'), args: [{ customers, campaign, outputs }],
    }).catch((e: unknown) => e);
    assert.ok(error instanceof WorkflowFailedError, `the run failed (got ${String(error)})`);
    const cause = error.cause instanceof ApplicationFailure ? error.cause : error.cause?.cause;
    assert.ok(cause instanceof ApplicationFailure, `an application failure (got ${String(cause)})`);
    return cause;
  };

  it('refuses an absolute folder at the start, naming the field and the root', async () => {
    const outside = path.join(tempDir('outside-abs'), 'exports');
    const cause = await failure({ folder: outside }, 'root-abs');
    assert.equal(cause.type, 'InvalidInput');
    assert.match(cause.message, /input\.outputs\.folder: must be a folder relative to the export root ETL_EXPORT_DIR/);
    assert.ok(!existsSync(outside), 'nothing written at the absolute path');
  });

  it('refuses a folder climbing out with ".."', async () => {
    const cause = await failure({ folder: 'marketing/../../escaped' }, 'root-dots');
    assert.equal(cause.type, 'InvalidInput');
    assert.match(cause.message, /input\.outputs\.folder: must be a folder relative to the export root ETL_EXPORT_DIR.*no "\.\." segments/);
    assert.ok(!existsSync(path.join(settings.exportDir, '..', 'escaped')), 'nothing written next to the root');
  });

  it('refuses a link inside the root that points out, and writes nothing through it', async () => {
    const outside = tempDir('outside-link');
    const { folder, path: linkParent } = exportFolder('link');
    mkdirSync(linkParent, { recursive: true });
    symlinkSync(outside, path.join(linkParent, 'out'));
    const cause = await failure({ folder: `${folder}/out/june` }, 'root-link');
    assert.equal(cause.type, 'InvalidInput');
    assert.match(cause.message, new RegExp(`input\\.outputs\\.folder "${folder}/out/june" leads outside the export root ${settings.exportDir} \\(ETL_EXPORT_DIR\\): ${folder}/out is a link to ${outside}`));
    assert.equal(readdirSync(outside).length, 0, 'nothing written through the link');
  });
});
