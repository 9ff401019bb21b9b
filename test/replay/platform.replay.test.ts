import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from '@jest/globals';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../helpers/env';

// Histories recorded from real runs (success, incremental, failed activity, rejected input). If a change to
// workflows/ would make a running workflow take another path, replaying them fails here, before it ships.
const folder = path.join(__dirname, 'histories');
const files = readdirSync(folder).filter((f) => f.endsWith('.json')).sort();

describe('recorded workflow histories replay against the current workflow code', () => {
  it('there are recorded histories to replay', () => {
    assert.ok(files.length >= 7, `found ${files.length} in ${folder}`);
  });
  for (const file of files) {
    it(file, async () => {
      const history = JSON.parse(readFileSync(path.join(folder, file), 'utf8'));
      await Worker.runReplayHistory({ workflowBundle }, history, file.replace(/\.json$/, ''));
    });
  }
});
