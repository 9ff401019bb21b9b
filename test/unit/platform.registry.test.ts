// The registry is the one list of pipelines: every workflow it names must be exported to the bundler, and every
// pipeline must have its file or folder under the same name in each top-level folder.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from '@jest/globals';
import { projectRoot } from '../../lib/config/env';
import { migrationFiles, sqlFolders } from '../../lib/io/migrate';
import { allWorkflowTypes, pipelines } from '../../lib/pipelines';
import * as workflows from '../../workflows';

describe('the pipeline registry', () => {
  it('names only workflows that workflows/index.ts exports to the bundler, and all of them', () => {
    const exported = Object.entries(workflows).filter(([, value]) => typeof value === 'function').map(([name]) => name).sort();
    assert.deepEqual(exported, [...allWorkflowTypes()].sort());
  });

  it('finds each pipeline under its own name in every folder', () => {
    for (const { name } of pipelines) {
      for (const place of [`workflows/${name}.ts`, `activities/${name}/index.ts`, `schedules/${name}.ts`, `lib/contracts/${name}.ts`,
        `lib/sample-data/${name}.ts`, `docs/pipelines/${name}.md`]) {
        assert.ok(existsSync(path.join(projectRoot, place)), `${name}: ${place} is missing`);
      }
    }
  });

  it('names every test file <pipeline>.<scenario>.test.ts (or platform.<scenario>), so `npm test -- <pipeline>` runs one pipeline', () => {
    const prefixes = [...pipelines.map((p) => p.name), 'platform'];
    const testFiles = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? testFiles(path.join(dir, entry.name)) : entry.name.endsWith('.test.ts') ? [entry.name] : []);
    const files = testFiles(path.join(projectRoot, 'test'));
    assert.ok(files.length > 30, `found ${files.length} test files`);
    for (const file of files) {
      assert.ok(prefixes.some((prefix) => new RegExp(`^${prefix}\\.[a-z0-9-]+\\.test\\.ts$`).test(file)), `test file ${file}`);
    }
    for (const { name } of pipelines) assert.ok(files.some((file) => file.startsWith(`${name}.`)), `${name} has tests`);
  });

  it('has a pipeline for every sql/ folder but the shared one (a pipeline without tables of its own has none)', () => {
    const names = new Set(pipelines.map((p) => p.name));
    for (const folder of readdirSync(path.join(projectRoot, 'sql'))) {
      assert.ok(folder === 'shared' || names.has(folder), `sql/${folder} names no pipeline`);
    }
  });

  it('numbers each sql/ folder\'s migrations once (the journal records a folder\'s versions: a second file of one number is never applied)', () => {
    for (const folder of sqlFolders()) assert.doesNotThrow(() => migrationFiles(folder), `sql/${folder}`);
    assert.throws(() => migrationFiles('shared', ['003_etl_control_cancelled.sql', '003_portable_helpers.sql']),
      /sql\/shared\/003_etl_control_cancelled\.sql and sql\/shared\/003_portable_helpers\.sql have the same version 3/);
  });
});
