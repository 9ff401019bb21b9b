// Campaign folders for tests and benchmarks: each campaign a <name>.json and its query in sql/<name>.sql.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface CampaignFile {
  name: string;
  sql: string;
  [field: string]: unknown;
}

/** A campaign folder with these campaigns (each a <name>.json and sql/<name>.sql), by default in the test stack's data folder. */
export function writeCampaigns(campaigns: CampaignFile[], dir = mkdtempSync(path.join(process.env.ETL_DATA_DIR ?? os.tmpdir(), 'campaigns-'))): string {
  mkdirSync(path.join(dir, 'sql'), { recursive: true });
  for (const { sql, ...config } of campaigns) {
    writeFileSync(path.join(dir, 'sql', `${config.name}.sql`), sql);
    writeFileSync(path.join(dir, `${config.name}.json`), JSON.stringify({ sqlFile: `${config.name}.sql`, ...config }, null, 2));
  }
  return dir;
}

