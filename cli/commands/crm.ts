// `etl crm ...`: crmFeatures' backups of ml_features.user_features: list them, put one back.
import { listBackups } from '../../activities/crm-features/load';
import type { EtlConfig } from '../../lib/config/env';
import { resolveSettings } from '../../lib/config/settings';
import { createPool } from '../../lib/io/postgres';
import { printJson, say } from '../output';
import { runPipeline } from './run';

/**
 * Restores a backup through a crmFeatures run (`{ restoreBackup }`), so the restore is audited in its history like
 * every load, serialised with the loads by the table's lock, and the table as it was is kept as a backup of its own.
 */
export function restoreCrmBackup(config: EtlConfig, options: { backup: string; id?: string; wait: boolean }): Promise<number> {
  return runPipeline(config, 'crm-features', { input: JSON.stringify({ restoreBackup: options.backup }), id: options.id, wait: options.wait });
}

/** The backups, newest first, with their approximate row counts. */
export async function listCrmBackups(config: EtlConfig): Promise<number> {
  const target = createPool(resolveSettings(config).postgres.databaseUrl);
  try {
    const backups = await listBackups({ target });
    say(backups.length ? backups.map((b) => `${b.name}  (~${b.rows} rows)`).join('\n') : 'no backups of ml_features.user_features');
    printJson(backups);
    return 0;
  } finally {
    await target.end();
  }
}
