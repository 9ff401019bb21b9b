// Paths and keys taken from an input never climb out of where they belong: the input schemas refuse absolute local
// export folders and ".." segments with a message naming the field (the run fails at its start: nothing is read or
// written). The export root check on disk is in test/workflows/marketing-enrichment.export-root.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import type { z } from 'zod';
import { crmFeaturesInputSchema } from '../../lib/contracts/crm-features';
import { enrichmentInputSchema } from '../../lib/contracts/marketing-enrichment';
import { salesWarehouseInputSchema } from '../../lib/contracts/sales-warehouse';
import { lakeWatcherInputSchema } from '../../lib/contracts/sales-warehouse-watcher';
import { describeIssues } from '../../lib/workflow/validation';

const problem = (schema: z.ZodType, input: unknown): string => {
  const parsed = schema.safeParse(input);
  assert.equal(parsed.success, false, `${JSON.stringify(input)} was accepted`);
  return describeIssues('input', parsed.error!);
};

describe('paths from inputs', () => {
  it.each([
    ['marketing: an absolute export folder', enrichmentInputSchema, { outputs: { folder: '/etc/cron.d' } },
      /input\.outputs\.folder: must be a folder relative to the export root ETL_EXPORT_DIR/],
    ['marketing: a drive-letter export folder', enrichmentInputSchema, { outputs: { folder: 'C:\\exports' } },
      /input\.outputs\.folder: must be a folder relative to the export root ETL_EXPORT_DIR/],
    ['marketing: an export folder climbing out', enrichmentInputSchema, { outputs: { folder: 'a/../../b' } },
      /input\.outputs\.folder: must be a folder relative to the export root ETL_EXPORT_DIR.*no "\.\." segments/],
    ['marketing: an S3 prefix climbing out', enrichmentInputSchema, { outputs: { s3Prefix: 'exports/../private/' } },
      /input\.outputs\.s3Prefix: must not contain "\.\." segments/],
    ['marketing: a customers file climbing out', enrichmentInputSchema, { customers: 's3:in/../../secret.csv' },
      /input\.customers: must not contain "\.\." segments/],
    ['sales: a file source climbing out', salesWarehouseInputSchema, { sources: [{ kind: 'file', name: 'x', location: 's3:sales/../hr/' }] },
      /input\.sources\.0\.location: must not contain "\.\." segments/],
    ['sales lake watcher: a prefix climbing out', lakeWatcherInputSchema, { prefix: 'sales/../hr/' },
      /input\.prefix: must not contain "\.\." segments/],
    ['crm: a lake prefix climbing out', crmFeaturesInputSchema, { lakePrefix: 's3:lake/../hr/' },
      /input\.lakePrefix: must not contain "\.\." segments/],
  ])('refuses %s, naming the field', (_what, schema, input, message) => {
    assert.match(problem(schema as z.ZodType, input), message);
  });

  it('accepts a folder under the export root', () => {
    assert.equal(enrichmentInputSchema.parse({ outputs: { folder: 'marketing/june' } }).outputs.folder, 'marketing/june');
  });
});
