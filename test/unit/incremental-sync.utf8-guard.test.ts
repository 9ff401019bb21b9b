import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from '@jest/globals';
import { utf8Guard, type InvalidUtf8Value } from '../../activities/incremental-sync/utf8-guard';

const run = async (chunks: Buffer[]) => {
  const invalid: InvalidUtf8Value[] = [];
  const out = await buffer(Readable.from(chunks).pipe(utf8Guard(['id', 'nome', 'cidade'], invalid, ['id'])));
  return { out: out.toString('latin1'), invalid };
};

describe('utf8Guard', () => {
  it('passes valid UTF-8 through unchanged, even when a chunk splits a character', async () => {
    const text = Buffer.from('1\tJoão\tSão Paulo\n2\tZé\tNatal\n');
    const split = text.indexOf(0xc3) + 1; // in the middle of "ã"
    const { out, invalid } = await run([text.subarray(0, split), text.subarray(split)]);
    assert.equal(out, text.toString('latin1'));
    assert.deepEqual(invalid, []);
  });

  it('turns only the invalid field into NULL and reports column, key and bytes', async () => {
    const bad = Buffer.concat([Buffer.from('1\tAna\tRecife\n7\t'), Buffer.from([0x4a, 0x6f, 0x73, 0xe9]), Buffer.from('\tNatal\n')]);
    const { out, invalid } = await run([bad]);
    assert.equal(out, '1\tAna\tRecife\n7\t\\N\tNatal\n');
    assert.deepEqual(invalid, [{ column: 'nome', key: ['7'], hex: '4a6f73e9' }]);
  });
});
