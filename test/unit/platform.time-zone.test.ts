// A run's local clock: ETL_TIMEZONE reaches the pipelines that read it, and a bad zone is refused naming the field.
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { loadConfig } from '../../lib/config/env';
import { crmFeaturesInputSchema } from '../../lib/contracts/crm-features';
import { salesWarehouseInputSchema } from '../../lib/contracts/sales-warehouse';
import { findPipeline, inputWithConfiguration } from '../../lib/pipelines';
import { describeIssues } from '../../lib/workflow/validation';
import { localDateTime } from '../../lib/workflow/zoned-time';

describe('time zones', () => {
  it('reads the local clock of the zone, with its daylight saving time', () => {
    const instant = new Date('2027-01-15T02:30:00Z');
    assert.equal(localDateTime(instant, 'America/Sao_Paulo'), '2027-01-14T23:30:00');
    assert.equal(localDateTime(instant, 'America/New_York'), '2027-01-14T21:30:00');
    assert.equal(localDateTime(new Date('2027-07-15T02:30:00Z'), 'America/New_York'), '2027-07-14T22:30:00');
    assert.equal(localDateTime(instant, 'UTC'), '2027-01-15T02:30:00');
  });

  it('defaults to America/Sao_Paulo and refuses a zone that does not exist, naming the field', () => {
    assert.equal(crmFeaturesInputSchema.parse({}).timeZone, 'America/Sao_Paulo');
    const bad = salesWarehouseInputSchema.safeParse({ timeZone: 'America/Atlantis' });
    assert.equal(bad.success, false);
    assert.match(describeIssues('input', bad.error!), /input\.timeZone: must be a time zone name such as America\/Sao_Paulo/);
  });

  it('gives the runs of pipelines on local time ETL_TIMEZONE, under what the person asked for', () => {
    const config = loadConfig({ ETL_TIMEZONE: 'America/Manaus' });
    assert.deepEqual(inputWithConfiguration(findPipeline('crm-features'), config, { validateOnly: true }),
      { timeZone: 'America/Manaus', validateOnly: true });
    assert.deepEqual(inputWithConfiguration(findPipeline('sales-warehouse'), config, { timeZone: 'UTC' }), { timeZone: 'UTC' });
    assert.deepEqual(inputWithConfiguration(findPipeline('incremental-sync'), config, {}), {});
    assert.equal(inputWithConfiguration(findPipeline('crm-features'), config, 'not an object'), 'not an object');
  });
});
