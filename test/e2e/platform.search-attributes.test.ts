// A `.data/` kept from an older version has a dev-server database without the search attributes added since.
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { registerMissingSearchAttributes } from '../../lib/stack/temporal';
import { openTestContext, settings, type TestContext } from '../helpers/env';

describe('search attributes on an older dev-server database', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await openTestContext('search-attributes', { worker: false });
  });
  afterAll(async () => ctx?.close());

  it('registers the ones that are missing, so workflows setting them do not fail their tasks', async () => {
    const { namespace, address } = settings.temporal;
    const operator = ctx.client.connection.operatorService;
    await operator.removeSearchAttributes({ namespace, searchAttributes: ['EtlRerunOf'] });
    assert.equal((await operator.listSearchAttributes({ namespace })).customAttributes?.EtlRerunOf, undefined);
    await registerMissingSearchAttributes(address, namespace);
    const { customAttributes } = await operator.listSearchAttributes({ namespace });
    assert.ok(customAttributes?.EtlRerunOf, 'EtlRerunOf is back');
    assert.ok(customAttributes?.EtlQualityGrade && customAttributes.EtlPipeline);
  });
});
