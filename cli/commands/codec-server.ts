import { EncryptionCodec } from '../../lib/temporal/codec';
import { startCodecServer } from '../../lib/temporal/codec-server';
import { ConfigError, type EtlConfig } from '../../lib/config/env';
import { resolveSettings } from '../../lib/config/settings';
import { webUiOrigins } from '../../lib/stack';
import { say } from '../output';

export interface CodecServerCommandOptions {
  port?: number;
  host: string;
  origin?: string[];
}

/**
 * `etl codec-server`: the Web UI's codec endpoint for a Temporal that is not the embedded one (the embedded
 * stack runs its own). Runs until Ctrl-C.
 */
export async function codecServer(config: EtlConfig, options: CodecServerCommandOptions): Promise<number> {
  const settings = resolveSettings(config);
  if (!settings.codec.keys) {
    throw new ConfigError('no payload encryption key is configured: set ETL_CODEC_KEYS (and ETL_CODEC_KEY_ID) or ETL_CODEC_KEY_FILE');
  }
  const webUi = config.TEMPORAL_WEB_UI ?? settings.temporal.webUi;
  const allowedOrigins = options.origin ?? (webUi ? webUiOrigins(webUi) : []);
  if (allowedOrigins.length === 0) {
    throw new ConfigError('the Web UI\'s address is not known: give --origin <url> or set TEMPORAL_WEB_UI');
  }
  const server = await startCodecServer({
    codec: new EncryptionCodec(settings.codec.keys),
    port: options.port ?? settings.codec.port,
    host: options.host,
    allowedOrigins,
    authToken: settings.codec.authToken,
  });
  say(`codec server on ${server.url} (POST /encode, /decode), for the Web UI at ${allowedOrigins.join(', ')}`);
  say(settings.codec.authToken ? 'requests must carry Authorization: Bearer $ETL_CODEC_AUTH_TOKEN' : 'no auth token (ETL_CODEC_AUTH_TOKEN): anyone who reaches this port can decode');
  say(`point the Web UI at it: temporal server start-dev --ui-codec-endpoint ${server.url}, or the UI's Data Encoder setting`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await server.stop();
  return 0;
}
