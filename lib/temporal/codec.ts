import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';

/** Payloads this codec wrote carry this encoding; everything else passes through untouched. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** The metadata entry naming the key a payload was encrypted with, so older keys still decrypt after a rotation. */
export const KEY_ID_METADATA = 'encryption-key-id';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const text = new TextEncoder();
const fromText = new TextDecoder();

export interface CodecKeys {
  /** The key new payloads are encrypted with. */
  currentKeyId: string;
  /** Every key that may still decrypt: the current one and the ones rotated out. 32 bytes each (AES-256). */
  keys: ReadonlyMap<string, Buffer>;
}

/** A payload the configured keys cannot decrypt; retrying will not help, a key must be configured. */
export class CodecKeyError extends Error {
  override name = 'CodecKeyError';
}

/**
 * AES-256-GCM over the whole serialized payload (metadata and data), so neither the value nor its
 * original encoding are readable in the history. Layout of `data`: 12-byte IV, ciphertext, 16-byte tag.
 */
export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly keys: CodecKeys) {
    if (!keys.keys.has(keys.currentKeyId)) throw new CodecKeyError(`codec key "${keys.currentKeyId}" is not among the configured keys`);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const keyId = this.keys.currentKeyId;
    const key = this.keys.keys.get(keyId)!;
    return payloads.map((payload) => ({
      metadata: { encoding: text.encode(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: text.encode(keyId) },
      data: encrypt(serialize(payload), key),
    }));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (metadataText(payload, 'encoding') !== ENCRYPTED_ENCODING) return payload;
      const keyId = metadataText(payload, KEY_ID_METADATA);
      if (!keyId) throw new CodecKeyError(`an encrypted payload has no ${KEY_ID_METADATA} in its metadata`);
      const key = this.keys.keys.get(keyId);
      if (!key) {
        throw new CodecKeyError(
          `payload encrypted with key "${keyId}", which is not configured: add it to ETL_CODEC_KEYS (keys rotated out stay there for decryption)`);
      }
      return deserialize(decrypt(payload.data ?? new Uint8Array(), key, keyId));
    });
  }
}

function metadataText(payload: Payload, name: string): string | undefined {
  const value = payload.metadata?.[name];
  return value ? fromText.decode(value) : undefined;
}

function encrypt(plain: Uint8Array, key: Buffer): Uint8Array {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

function decrypt(sealed: Uint8Array, key: Buffer, keyId: string): Uint8Array {
  const buffer = Buffer.from(sealed);
  if (buffer.length < IV_BYTES + TAG_BYTES) throw new CodecKeyError(`an encrypted payload (key "${keyId}") is too short to be one of ours`);
  const decipher = createDecipheriv('aes-256-gcm', key, buffer.subarray(0, IV_BYTES));
  decipher.setAuthTag(buffer.subarray(buffer.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(buffer.subarray(IV_BYTES, buffer.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new CodecKeyError(`an encrypted payload does not decrypt with key "${keyId}": the key under that id has changed, or the payload was altered`);
  }
}

/** The payload as JSON with base64 bytes: small, and needs no protobuf code. */
function serialize(payload: Payload): Uint8Array {
  const metadata = Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
  return text.encode(JSON.stringify({ metadata, data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64') }));
}

function deserialize(bytes: Uint8Array): Payload {
  const { metadata, data } = JSON.parse(fromText.decode(bytes)) as { metadata: Record<string, string>; data: string };
  return {
    metadata: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
    data: new Uint8Array(Buffer.from(data, 'base64')),
  };
}

/** A fresh random key, base64, as ETL_CODEC_KEYS holds it. */
export const newCodecKey = (): string => randomBytes(32).toString('base64');
