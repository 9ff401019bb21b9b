import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { ENCRYPTED_ENCODING } from '../../lib/temporal/codec';
import type { JsonPayload } from '../../lib/temporal/codec-server';
import type { EnrichmentResult } from '../../lib/contracts/marketing-enrichment';
import { DEFAULT_PROMPT_TEMPLATE } from '../../lib/contracts/marketing-enrichment';
import { openTestContext, settings, startOptions, type TestContext } from '../helpers/env';
import { exportFolder, geminiSettings, tempDir, writeCustomers } from '../helpers/marketing-enrichment';

// A VIP customer the campaign's prompt names: personal data in the workflow input, as an operator may well type it.
const vip = { name: 'Maria Aparecida Souza', email: 'maria.souza@example.com.br', phone: '+55 11 98765-4321' };

/** Every payload in a history, wherever it sits (input, activity inputs and results, result, memo, queries). */
function payloadsIn(value: unknown, found: Payload[] = []): Payload[] {
  if (!value || typeof value !== 'object' || value instanceof Uint8Array) return found;
  const candidate = value as Payload;
  if (candidate.data instanceof Uint8Array && candidate.metadata && typeof candidate.metadata === 'object') found.push(candidate);
  for (const child of Object.values(value)) payloadsIn(child, found);
  return found;
}

/** All text of a history as the server stores it: strings as they are, bytes read as UTF-8. */
function storedText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (!value || typeof value !== 'object') return '';
  return Object.values(value).map(storedText).join('\n');
}

const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

describe('payload encryption: no personal data in plain text in a history', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await openTestContext('codec', { settings: geminiSettings(undefined) });
  });
  afterAll(async () => ctx?.close());

  it('stores the run encrypted on the server, and the codec server shows it decoded', async () => {
    assert.ok(settings.codec.keys && settings.codec.serverUrl, 'the test stack runs with a key and a codec server');
    const dir = tempDir('codec');
    const { workflowId, taskQueue } = startOptions(ctx, 'codec');
    const template = `Cliente VIP: ${vip.name}, ${vip.email}, ${vip.phone}. ${DEFAULT_PROMPT_TEMPLATE}`;
    const result = await ctx.client.workflow.execute('marketingEnrichment', {
      workflowId, taskQueue,
      args: [{ customers: writeCustomers(dir, 'VIP', 5), campaign: 'codec', prompt: { template }, outputs: { folder: exportFolder('codec').folder } }],
    }) as EnrichmentResult;
    assert.equal(result.enriched, 5, 'the workers (with the key) read the encrypted input and ran the pipeline');

    // What anyone with access to the server sees: a client without the codec, the raw history.
    const raw = new Client({ connection: ctx.client.connection, namespace: settings.temporal.namespace });
    const history = await raw.workflow.getHandle(workflowId).fetchHistory();
    const stored = storedText(history);
    for (const value of Object.values(vip)) assert.ok(!stored.includes(value), `"${value}" is not in the stored history`);
    const payloads = payloadsIn(history);
    const encrypted = payloads.filter((p) => Buffer.from(p.metadata!.encoding ?? []).toString() === ENCRYPTED_ENCODING);
    assert.ok(encrypted.length >= 2, `the input and the result are encrypted (${encrypted.length} of ${payloads.length} payloads)`);

    // What the Web UI does for people who hold the key: POST the payloads to the codec server.
    const response = await fetch(`${settings.codec.serverUrl}/decode`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Namespace': settings.temporal.namespace },
      body: JSON.stringify({ payloads: encrypted.map(toJson) }),
    });
    assert.equal(response.status, 200);
    const decoded = (await response.json() as { payloads: JsonPayload[] }).payloads;
    const decodedText = decoded.map((p) => Buffer.from(p.data ?? '', 'base64').toString('utf8')).join('\n');
    for (const value of Object.values(vip)) assert.ok(decodedText.includes(value), `the codec server shows "${value}"`);
    assert.ok(decodedText.includes('"enriched":5'), 'and the result');
    assert.equal(Buffer.from(decoded[0].metadata!.encoding, 'base64').toString(), 'json/plain');
  });

  it('encrypts failure messages too: an error quoting a value shows "Encoded failure" on the server, the message to us', async () => {
    const { workflowId, taskQueue } = startOptions(ctx, 'codec-failure');
    const table = 'public.maria_souza_contatos';
    const failed = await ctx.client.workflow.execute('incrementalSync', { workflowId, taskQueue, args: [{ sourceTable: table }] })
      .then(() => undefined, (error: Error & { cause?: Error & { cause?: Error } }) => error.cause?.cause?.message ?? error.cause?.message);
    assert.match(failed ?? '', /source table public\.maria_souza_contatos does not exist/, 'our client (with the key) reads the message');
    const raw = new Client({ connection: ctx.client.connection, namespace: settings.temporal.namespace });
    const history = await raw.workflow.getHandle(workflowId).fetchHistory();
    assert.ok(!storedText(history).includes('maria_souza'), 'neither the input nor the failure message is readable on the server');
    const failure = history.events?.find((e) => e.workflowExecutionFailedEventAttributes)?.workflowExecutionFailedEventAttributes?.failure;
    assert.equal(failure?.cause?.message, 'Encoded failure');
  });
});
