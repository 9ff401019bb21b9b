import path from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { customSearchAttributes, searchAttributeFlags } from '../workflow/search-attributes';
import { startProcess, waitUntilReady, type ManagedProcess } from './processes';

export interface TemporalDevServerOptions {
  cli: string;
  dataDir: string;
  runDir: string;
  port: number;
  uiPort: number;
  namespace: string;
  /** The codec server the Web UI decodes payloads through. */
  codecEndpoint?: string;
}

const START_ATTEMPTS = 3;

/** `temporal server start-dev` on loopback, its state in a SQLite file so runs and schedules survive restarts. */
export async function startTemporalDevServer(options: TemporalDevServerOptions): Promise<ManagedProcess> {
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(options.port),
    '--ui-port', String(options.uiPort),
    '--ui-ip', '127.0.0.1',
    '--db-filename', path.join(options.dataDir, 'temporal.sqlite'),
    '--namespace', options.namespace,
    '--log-level', 'warn',
    '--ui-disable-news-fetch',
    ...(options.codecEndpoint ? ['--ui-codec-endpoint', options.codecEndpoint] : []),
    ...searchAttributeFlags().flatMap((flag) => ['--search-attribute', flag]),
    // One partition per task queue: a queue's rate limit (GEMINI_RPM) is split across its partitions, and
    // with the default four a queue whose tasks land on one partition would run at a quarter of the rate.
    '--dynamic-config-value', 'matching.numTaskqueueReadPartitions=1',
    '--dynamic-config-value', 'matching.numTaskqueueWritePartitions=1',
  ];
  for (let attempt = 1; ; attempt++) {
    const proc = await startProcess({ name: 'temporal', command: options.cli, args, runDir: options.runDir });
    try {
      await waitUntilReady(proc, () => temporalAnswers(`127.0.0.1:${options.port}`), 90_000);
      await registerMissingSearchAttributes(`127.0.0.1:${options.port}`, options.namespace);
      return proc;
    } catch (error) {
      // The dev server picks its internal ports (HTTP API, history, matching...) as "free now, bind later";
      // an outgoing connection can take one in between. A fresh start picks others.
      if (attempt >= START_ATTEMPTS || !/address already in use/.test(String(error))) throw error;
    }
  }
}

export async function temporalAnswers(address: string): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: 1000 });
    try {
      await connection.workflowService.getSystemInfo({});
      return true;
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}

/**
 * `--search-attribute` registers attributes only when the dev server creates its database: a `.data/` kept from an
 * older version lacks the ones added since, and a workflow setting one would fail its task. Adds what is missing.
 */
export async function registerMissingSearchAttributes(address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = customSearchAttributes.filter((key) => !customAttributes?.[key.name]);
    if (missing.length === 0) return;
    const { INDEXED_VALUE_TYPE_INT, INDEXED_VALUE_TYPE_KEYWORD } = temporal.api.enums.v1.IndexedValueType;
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((key) => [key.name, key.type === 'INT' ? INDEXED_VALUE_TYPE_INT : INDEXED_VALUE_TYPE_KEYWORD])),
    });
  } finally {
    await connection.close();
  }
}
