import { freePort } from './processes';

/** Every embedded server on a port that is free now: a stack that clashes with no other (tests, benchmarks). */
export async function freePortsEnv(): Promise<Record<string, string>> {
  const names = ['ETL_POSTGRES_PORT', 'ETL_TEMPORAL_PORT', 'ETL_TEMPORAL_UI_PORT', 'ETL_S3_PORT', 'ETL_SFTP_PORT', 'ETL_CODEC_PORT'];
  const env: Record<string, string> = {};
  for (const name of names) env[name] = String(await freePort());
  return env;
}
