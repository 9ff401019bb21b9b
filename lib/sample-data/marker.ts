// Which pipelines have their sample data on this stack: `etl sample-data ...` and the demo record it in the data
// folder, and the schedules read it. A schedule whose default input is the sample data is created active only
// when that data is there; otherwise it waits, paused, with a note saying what to set.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const markerFile = (dataDir: string) => path.join(dataDir, 'sample-data.json');

export function pipelinesWithSampleData(dataDir: string): Set<string> {
  const file = markerFile(dataDir);
  if (!existsSync(file)) return new Set();
  try {
    const recorded = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    return new Set(Object.keys(recorded));
  } catch {
    return new Set();
  }
}

/** Records that `pipeline`'s sample data was loaded now (its name as the CLI takes it). */
export function recordSampleData(dataDir: string, pipeline: string): void {
  const file = markerFile(dataDir);
  let recorded: Record<string, string> = {};
  try {
    if (existsSync(file)) recorded = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  } catch {
    recorded = {};
  }
  recorded[pipeline] = new Date().toISOString();
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${JSON.stringify(recorded, null, 2)}\n`);
}
