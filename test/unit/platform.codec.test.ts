import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { defaultPayloadConverter } from '@temporalio/common';
import { CodecKeyError, ENCRYPTED_ENCODING, EncryptionCodec, KEY_ID_METADATA, newCodecKey } from '../../lib/temporal/codec';
import { ConfigError, loadConfig } from '../../lib/config/env';
import { resolveSettings } from '../../lib/config/settings';

const codecFor = (keys: string, keyId?: string) => {
  const settings = resolveSettings(loadConfig({ TEMPORAL_ADDRESS: 'temporal:7233', ETL_CODEC_KEYS: keys, ETL_CODEC_KEY_ID: keyId }));
  return new EncryptionCodec(settings.codec.keys!);
};
const customer = { name: 'Maria Aparecida Souza', email: 'maria.souza@example.com.br', phone: '+55 11 98765-4321' };
const text = (bytes?: Uint8Array | null) => Buffer.from(bytes ?? []).toString('latin1');

describe('payload encryption', () => {
  const oldKey = `2026-01:${newCodecKey()}`;
  const newKey = `2026-11:${newCodecKey()}`;

  it('stores no readable value, names its key, and decodes back to the same value', async () => {
    const codec = codecFor(oldKey);
    const [plain] = [defaultPayloadConverter.toPayload(customer)];
    const [sealed] = await codec.encode([plain]);
    assert.equal(text(sealed.metadata?.encoding), ENCRYPTED_ENCODING);
    assert.equal(text(sealed.metadata?.[KEY_ID_METADATA]), '2026-01');
    for (const value of [...Object.values(customer), 'json/plain']) assert.ok(!text(sealed.data).includes(value), `${value} is not readable`);
    const [opened] = await codec.decode([sealed]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(opened), customer);
  });

  it('after a rotation encrypts with the new key and still decrypts what the old key wrote', async () => {
    const [writtenBefore] = await codecFor(oldKey).encode([defaultPayloadConverter.toPayload(customer)]);
    const rotated = codecFor(`${newKey},${oldKey}`, '2026-11');
    const [writtenAfter] = await rotated.encode([defaultPayloadConverter.toPayload(customer)]);
    assert.equal(text(writtenAfter.metadata?.[KEY_ID_METADATA]), '2026-11');
    const decoded = await rotated.decode([writtenBefore, writtenAfter]);
    assert.deepEqual(decoded.map((p) => defaultPayloadConverter.fromPayload(p)), [customer, customer]);
  });

  it('refuses a payload of a key it does not hold, naming the key id', async () => {
    const [sealed] = await codecFor(newKey).encode([defaultPayloadConverter.toPayload(customer)]);
    await assert.rejects(codecFor(oldKey).decode([sealed]), (error: unknown) => {
      assert.ok(error instanceof CodecKeyError);
      assert.match(error.message, /key "2026-11", which is not configured: add it to ETL_CODEC_KEYS/);
      return true;
    });
  });

  it('refuses a payload whose key changed under the same id, or that was altered', async () => {
    const [sealed] = await codecFor(oldKey).encode([defaultPayloadConverter.toPayload(customer)]);
    await assert.rejects(codecFor(`2026-01:${newCodecKey()}`).decode([sealed]), /does not decrypt with key "2026-01"/);
  });

  it('passes unencrypted payloads (histories from before the key) through', async () => {
    const plain = defaultPayloadConverter.toPayload({ rows: 3 });
    assert.deepEqual(await codecFor(oldKey).decode([plain]), [plain]);
  });

  it('names the variable of a malformed key and never prints the key', () => {
    const secret = Buffer.alloc(16, 7).toString('base64');
    assert.throws(() => loadConfig({ ETL_CODEC_KEYS: `k1:${secret}` }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /ETL_CODEC_KEYS=\(value hidden\): key "k1" must be 32 bytes in base64/);
      assert.ok(!error.message.includes(secret));
      return true;
    });
    assert.throws(() => loadConfig({ ETL_CODEC_KEYS: oldKey, ETL_CODEC_KEY_ID: '2026-11' }),
      /ETL_CODEC_KEY_ID="2026-11" is not one of the ids in ETL_CODEC_KEYS/);
    assert.throws(() => loadConfig({ ETL_CODEC_KEYS: 'no-colon-here' }), /ETL_CODEC_KEYS=\(value hidden\): entry .* must be id:base64key/);
  });

  it('changes nothing without a key against a configured server', () => {
    const settings = resolveSettings(loadConfig({ TEMPORAL_ADDRESS: 'temporal:7233', ETL_DATA_DIR: '/nonexistent' }));
    assert.equal(settings.codec.keys, undefined);
    assert.equal(settings.codec.serverUrl, undefined);
  });
});
