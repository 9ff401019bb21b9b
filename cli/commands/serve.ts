import type { EtlConfig } from '../../lib/config/env';
import { createPool } from '../../lib/io/postgres';
import { startKpiServer } from '../kpi-server';
import { resolveSettings } from '../../lib/config/settings';
import { say } from '../output';

/** `etl serve`: the KPI views as JSON until Ctrl-C. */
export async function serve(config: EtlConfig, options: { port: number; host: string }): Promise<number> {
  const pool = createPool(resolveSettings(config).postgres.databaseUrl, 4);
  const server = await startKpiServer(pool, options.port, options.host);
  say(`KPI endpoint: ${server.url}/kpi (GET /kpi/<view>?limit=&offset=); Ctrl-C stops it`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  await pool.end();
  return 0;
}
