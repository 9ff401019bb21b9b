import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { utils } from 'ssh2';
import { generateEd25519KeyPair } from '../../lib/stack/storage';

describe('embedded SFTP keys', () => {
  it('are always well-formed ed25519 keys, even when ssh2 would drop a leading zero byte', () => {
    // Without the redraw about one key in 256 is short; 1,500 keys would almost surely hit one.
    for (let i = 0; i < 1500; i++) {
      const pair = generateEd25519KeyPair();
      const parsed = utils.parseKey(pair.private);
      assert.ok(!(parsed instanceof Error), `key ${i} does not parse`);
      const blob = Buffer.from(pair.private.split('\n').filter((line) => line && !line.startsWith('-----')).join(''), 'base64');
      assert.equal(blob.length, 234, `key ${i} has an OpenSSH blob of ${blob.length} bytes`);
    }
  });
});
