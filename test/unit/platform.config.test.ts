import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../lib/config/env';
import { resolveSettings } from '../../lib/config/settings';

describe('configuration from the environment', () => {
  it('names every malformed variable in one line', () => {
    assert.throws(() => loadConfig({ TEMPORAL_ADDRESS: 'http://temporal', ETL_POSTGRES_PORT: 'abc' }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.message.split('\n').length, 1);
      assert.match(error.message, /TEMPORAL_ADDRESS="http:\/\/temporal": must be host:port/);
      assert.match(error.message, /ETL_POSTGRES_PORT="abc"/);
      return true;
    });
  });

  it('wants both database URLs or neither', () => {
    assert.throws(() => loadConfig({ DATABASE_URL: 'postgres://u:p@db:5432/etl' }), /set both DATABASE_URL and SOURCE_DATABASE_URL/);
  });

  it('defaults to the embedded stack and the São Paulo daily schedule', () => {
    const config = loadConfig({});
    assert.equal(config.TEMPORAL_ADDRESS, undefined);
    assert.equal(config.SYNC_SCHEDULE_CRON, '0 3 * * *');
    assert.equal(config.ETL_TIMEZONE, 'America/Sao_Paulo');
  });
});

describe('Temporal settings as Temporal users keep them', () => {
  const profileFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'etl-profile-')), 'temporal.toml');
  writeFileSync(profileFile, '[profile.default]\naddress = "temporal.internal:7233"\nnamespace = "ops"\n[profile.prod]\naddress = "prod.tmprl.cloud:7233"\n');

  it('a temporal.toml profile points at that cluster instead of the embedded one', () => {
    const settings = resolveSettings(loadConfig({ TEMPORAL_CONFIG_FILE: profileFile }));
    assert.equal(settings.temporal.address, 'temporal.internal:7233');
    assert.equal(settings.temporal.namespace, 'ops');
    assert.equal(settings.temporal.embedded, false);
  });

  it('TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE win over the profile; TEMPORAL_PROFILE picks one', () => {
    const fromEnv = resolveSettings(loadConfig({ TEMPORAL_CONFIG_FILE: profileFile, TEMPORAL_ADDRESS: 'other:7233', TEMPORAL_NAMESPACE: 'etl' }));
    assert.deepEqual([fromEnv.temporal.address, fromEnv.temporal.namespace], ['other:7233', 'etl']);
    const prod = resolveSettings(loadConfig({ TEMPORAL_CONFIG_FILE: profileFile, TEMPORAL_PROFILE: 'prod' }));
    assert.equal(prod.temporal.address, 'prod.tmprl.cloud:7233');
    assert.throws(() => resolveSettings(loadConfig({ TEMPORAL_CONFIG_FILE: profileFile, TEMPORAL_PROFILE: 'nope' })),
      /invalid Temporal client profile: Profile 'nope' not found/);
  });

  it('with neither, the embedded dev server on loopback', () => {
    const settings = resolveSettings(loadConfig({ TEMPORAL_CONFIG_FILE: `${profileFile}.missing` }));
    assert.deepEqual([settings.temporal.address, settings.temporal.embedded], ['127.0.0.1:7233', true]);
  });
});
