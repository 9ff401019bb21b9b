import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { defaultPayloadConverter } from '@temporalio/common';
import { EncryptionCodec, newCodecKey } from '../../lib/temporal/codec';
import { startCodecServer, type JsonPayload, type RunningCodecServer } from '../../lib/temporal/codec-server';
import { parseCodecKeys } from '../../lib/config/env';

const uiOrigin = 'http://127.0.0.1:8233';
const codecOf = (list: string, currentKeyId: string) => new EncryptionCodec({ keys: parseCodecKeys(list), currentKeyId });
const toJson = (value: unknown): JsonPayload => {
  const p = defaultPayloadConverter.toPayload(value);
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data ?? []).toString('base64'),
  };
};

describe('the codec server the Web UI calls', () => {
  const current = `2026-11:${newCodecKey()}`;
  let server: RunningCodecServer;
  const post = (route: string, body: unknown, token?: string) => fetch(`${server.url}${route}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', Origin: uiOrigin, ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });

  beforeAll(async () => {
    server = await startCodecServer({ codec: codecOf(current, '2026-11'), port: 0, allowedOrigins: [uiOrigin], authToken: 's3cret' });
  });
  afterAll(async () => server?.stop());

  it('answers the browser preflight for the UI origin without a token', async () => {
    const response = await fetch(`${server.url}/decode`, { method: 'OPTIONS',
      headers: { Origin: uiOrigin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,x-namespace,authorization' } });
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('access-control-allow-origin'), uiOrigin);
    assert.match(response.headers.get('access-control-allow-headers') ?? '', /X-Namespace/);
    const stranger = await fetch(`${server.url}/decode`, { method: 'OPTIONS', headers: { Origin: 'http://evil.example' } });
    assert.equal(stranger.headers.get('access-control-allow-origin'), null);
  });

  it('encodes and decodes only with the token', async () => {
    assert.equal((await post('/encode', { payloads: [toJson('Maria')] })).status, 401);
    const encoded = await (await post('/encode', { payloads: [toJson('Maria')] }, 's3cret')).json() as { payloads: JsonPayload[] };
    assert.ok(!Buffer.from(encoded.payloads[0].data!, 'base64').toString('latin1').includes('Maria'));
    // Parsed here, not by response.json(): jest runs this file in a V8 context of its own, and deepEqual would see
    // the prototypes of Node's own context in what fetch parsed (test/jest-environment.ts says more).
    const decoded = JSON.parse(await (await post('/decode', encoded, 's3cret')).text()) as { payloads: JsonPayload[] };
    assert.deepEqual(decoded.payloads, [toJson('Maria')]);
  });

  it('says which key is missing, and what a malformed body should be', async () => {
    const [foreign] = await codecOf(`2025-01:${newCodecKey()}`, '2025-01').encode([defaultPayloadConverter.toPayload('x')]);
    const body = { payloads: [{ metadata: Object.fromEntries(Object.entries(foreign.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      data: Buffer.from(foreign.data!).toString('base64') }] };
    const response = await post('/decode', body, 's3cret');
    assert.equal(response.status, 422);
    assert.match((await response.json() as { message: string }).message, /key "2025-01", which is not configured/);
    const bad = await post('/decode', { nope: 1 }, 's3cret');
    assert.equal(bad.status, 400);
    assert.match((await bad.json() as { message: string }).message, /\{"payloads": \[\.\.\.\]\}/);
  });
});
