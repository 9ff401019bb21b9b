// Temporal beyond the dev server: the connection a worker and the CLI open to a self-hosted cluster (TLS, mTLS) or
// Temporal Cloud (API key), from a temporal.toml profile picked by TEMPORAL_PROFILE; and worker tuning from the
// environment, with the defaults docs/configuration.md states.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from '@jest/globals';
import { loadConfig } from '../../lib/config/env';
import { resolveSettings } from '../../lib/config/settings';
import { pipelines } from '../../lib/pipelines';
import { temporalConnectionOptions } from '../../lib/temporal/connection';
import { workerTuning } from '../../workers';

const dir = mkdtempSync(path.join(os.tmpdir(), 'etl-cluster-'));
const file = (name: string, text: string) => {
  writeFileSync(path.join(dir, name), text);
  return path.join(dir, name);
};
const ca = file('ca.pem', '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n');
const cert = file('client.pem', '-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n');
const key = file('client.key', '-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n');
const profiles = file('temporal.toml', `
[profile.selfhosted]
address = "temporal.internal:7233"
namespace = "etl"
[profile.selfhosted.tls]
server_ca_cert_path = "${ca}"
server_name = "temporal.internal"

[profile.mtls]
address = "etl-prod.a1b2c.tmprl.cloud:7233"
namespace = "etl-prod.a1b2c"
[profile.mtls.tls]
client_cert_path = "${cert}"
client_key_path = "${key}"

[profile.cloud]
address = "us-east-1.aws.api.temporal.io:7233"
namespace = "etl-prod.a1b2c"
api_key = "cloud-api-key"
`);

const text = (bytes?: Uint8Array) => bytes && Buffer.from(bytes).toString();

/** What a worker started with this environment connects with (the environment is the whole process env here). */
const connect = (env: Record<string, string>) => {
  const settings = resolveSettings(loadConfig({ TEMPORAL_CONFIG_FILE: profiles, ...env }));
  return { settings, options: temporalConnectionOptions(settings, { TEMPORAL_CONFIG_FILE: profiles, ...env }) };
};

describe('a Temporal cluster through a temporal.toml profile', () => {
  it('self-hosted with TLS: the server CA and server name, the profile\'s address and namespace', () => {
    const { settings, options } = connect({ TEMPORAL_PROFILE: 'selfhosted' });
    assert.equal(settings.temporal.embedded, false, 'no dev server is started');
    assert.equal(settings.temporal.namespace, 'etl');
    assert.equal(options.address, 'temporal.internal:7233');
    assert.ok(options.tls && typeof options.tls === 'object');
    assert.equal(options.tls.serverNameOverride, 'temporal.internal');
    assert.equal(text(options.tls.serverRootCACertificate), '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n');
    assert.equal(options.tls.clientCertPair, undefined);
    assert.equal(options.apiKey, undefined);
  });

  it('mTLS: the client certificate and key', () => {
    const { settings, options } = connect({ TEMPORAL_PROFILE: 'mtls' });
    assert.equal(settings.temporal.namespace, 'etl-prod.a1b2c');
    assert.ok(options.tls && typeof options.tls === 'object');
    assert.equal(text(options.tls.clientCertPair?.crt), '-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n');
    assert.equal(text(options.tls.clientCertPair?.key), '-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n');
  });

  it('Temporal Cloud with an API key: TLS on, the key sent', () => {
    const { options } = connect({ TEMPORAL_PROFILE: 'cloud' });
    assert.equal(options.address, 'us-east-1.aws.api.temporal.io:7233');
    assert.equal(options.apiKey, 'cloud-api-key');
    assert.ok(options.tls, 'an API key implies TLS');
  });

  it('the Temporal variables win over the profile, as in Temporal\'s own tools', () => {
    const { settings, options } = connect({ TEMPORAL_PROFILE: 'cloud', TEMPORAL_ADDRESS: 'other.example:7233', TEMPORAL_API_KEY: 'rotated' });
    assert.equal(settings.temporal.address, 'other.example:7233');
    assert.equal(options.address, 'other.example:7233');
    assert.equal(options.apiKey, 'rotated');
  });
});

describe('worker tuning', () => {
  const tuning = (env: Record<string, string>) => workerTuning(resolveSettings(loadConfig(env)), 8);

  it('defaults: the registry\'s activities at once, everything else the SDK\'s', () => {
    assert.deepEqual(tuning({}), { maxConcurrentActivityTaskExecutions: 8 });
    assert.ok(pipelines.every((p) => p.maxConcurrentActivities >= 1));
  });

  it('ETL_WORKER_* and ETL_TASK_QUEUE_* set the options they name', () => {
    assert.deepEqual(tuning({
      ETL_WORKER_MAX_CONCURRENT_ACTIVITIES: '16', ETL_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '20', ETL_WORKER_MAX_CACHED_WORKFLOWS: '0',
      ETL_WORKER_STICKY_TIMEOUT: '5s', ETL_WORKER_MAX_ACTIVITIES_PER_SECOND: '50', ETL_TASK_QUEUE_MAX_ACTIVITIES_PER_SECOND: '100',
    }), {
      maxConcurrentActivityTaskExecutions: 16, maxConcurrentWorkflowTaskExecutions: 20, maxCachedWorkflows: 0,
      stickyQueueScheduleToStartTimeout: '5s', maxActivitiesPerSecond: 50, maxTaskQueueActivitiesPerSecond: 100,
    });
  });

  it('a bad value names the variable', () => {
    assert.throws(() => loadConfig({ ETL_WORKER_MAX_CONCURRENT_ACTIVITIES: 'many' }), /ETL_WORKER_MAX_CONCURRENT_ACTIVITIES="many"/);
    assert.throws(() => loadConfig({ ETL_WORKER_STICKY_TIMEOUT: 'soon' }), /ETL_WORKER_STICKY_TIMEOUT="soon": must be a duration/);
  });
});
