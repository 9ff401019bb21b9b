import type { EtlConfig } from '../../lib/config';
import { createPool } from '../../lib/db';
import { seedConversations } from '../../lib/sample-data/conversations';
import { resolveSettings } from '../../lib/settings';
import { printJson, say } from '../output';

/** Fills the source database with synthetic conversations (and creates the demo's typed target table). */
export async function sampleConversations(config: EtlConfig, options: { rows: number; table: string }): Promise<number> {
  const settings = resolveSettings(config);
  const source = createPool(settings.postgres.sourceAdminUrl);
  const target = createPool(settings.postgres.databaseUrl);
  try {
    const inserted = await seedConversations(source, target, options.rows, options.table);
    say(`${options.table}: ${inserted} new rows on the source (rows that already existed were kept)`);
    printJson({ table: options.table, inserted });
    return 0;
  } finally {
    await Promise.all([source.end(), target.end()]);
  }
}
