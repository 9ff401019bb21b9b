// How the shared extract cuts the lake into activities: one per file up to MAX_LAKE_PARTS files; beyond, that many
// parts of about equal bytes, in key order, every file in exactly one.
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { lakeParts, MAX_LAKE_PARTS, type LakeObject } from '../../activities/crm-features/extract';

const files = (sizes: number[]): LakeObject[] => sizes.map((size, i) => ({ key: `lake/${String(i).padStart(5, '0')}.csv`, size }));

describe('lakeParts', () => {
  it('gives each file its own activity up to MAX_LAKE_PARTS files', () => {
    const lake = files(Array.from({ length: MAX_LAKE_PARTS }, (_, i) => 1000 * (i + 1)));
    assert.deepEqual(lakeParts(lake), lake.map((f) => [f]));
  });

  it('packs thousands of small files into MAX_LAKE_PARTS parts of about equal bytes, in key order', () => {
    const lake = files(Array.from({ length: 5000 }, (_, i) => 10_000 + (i % 7) * 1000));
    const parts = lakeParts(lake);
    assert.equal(parts.length, MAX_LAKE_PARTS);
    assert.deepEqual(parts.flat(), lake, 'every file once, in key order');
    const bytes = parts.map((part) => part.reduce((sum, f) => sum + f.size!, 0));
    const share = bytes.reduce((a, b) => a + b, 0) / MAX_LAKE_PARTS;
    for (const b of bytes) assert.ok(b < 1.1 * share && b > 0.9 * share, `${b} bytes in a part, ${share} on average`);
  });

  it('gives a big file a part of its own among small ones', () => {
    const lake = files([...Array.from({ length: 40 }, () => 1000), 1_000_000, ...Array.from({ length: 40 }, () => 1000)]);
    const parts = lakeParts(lake);
    assert.ok(parts.length <= MAX_LAKE_PARTS);
    assert.deepEqual(parts.flat(), lake);
    assert.ok(parts.some((part) => part.length === 1 && part[0].size === 1_000_000));
  });
});
