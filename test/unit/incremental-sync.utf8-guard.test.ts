import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from '@jest/globals';
import { copyTextFields, utf8Guard, type InvalidUtf8Value } from '../../activities/incremental-sync/utf8-guard';

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

  it('keeps the last line as the source sent it, for the next page to start after it', async () => {
    const guard = utf8Guard(['id', 'nome'], [], ['id']);
    await buffer(Readable.from([Buffer.from('a\tx\nB\\tc\t'), Buffer.from('y\n')]).pipe(guard));
    assert.deepEqual(copyTextFields(guard.lastLine()!).map((f) => f?.toString()), ['B\tc', 'y']);
  });
});

describe('copyTextFields', () => {
  it('decodes COPY text escapes and NULL', () => {
    const line = Buffer.from('tab\\there\tnew\\nline\t\\N\tback\\\\slash\toct\\101\thex\\x41');
    assert.deepEqual(copyTextFields(line).map((f) => f?.toString() ?? null), ['tab\there', 'new\nline', null, 'back\\slash', 'octA', 'hexA']);
  });
});
