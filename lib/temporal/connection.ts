import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { EncryptionCodec } from './codec';
import type { Settings } from '../config/settings';

/** Where the failure converter that moves messages into encrypted payloads lives (workflow bundles need the path). */
export const failureConverterPath = require.resolve('./failure-converter');

/**
 * With a key: every payload encrypted, and failure messages too. Without one, Temporal's default converter
 * (nothing changes).
 */
export function dataConverter(settings: Settings): DataConverter | undefined {
  return settings.codec.keys ? { payloadCodecs: [new EncryptionCodec(settings.codec.keys)], failureConverterPath } : undefined;
}

/**
 * Connection settings the way Temporal's own tools read them (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TLS variables, the temporal.toml profile), pointed at our resolved address.
 */
export function temporalConnectionOptions(settings: Settings): NativeConnectionOptions {
  const { name, configFile } = settings.temporal.profile;
  const { connectionOptions } = loadClientConnectConfig({ profile: name, configSource: configFile ? { path: configFile } : undefined });
  return { ...connectionOptions, address: settings.temporal.address };
}

export async function connectClient(settings: Settings): Promise<Client> {
  const options = temporalConnectionOptions(settings);
  const connection = await Connection.connect({
    address: options.address,
    tls: options.tls,
    apiKey: options.apiKey,
    metadata: options.metadata,
    connectTimeout: 5000,
  });
  return new Client({ connection, namespace: settings.temporal.namespace, dataConverter: dataConverter(settings) });
}

/** The Web UI page of one run, when we know where the UI is. */
export function webUiLink(settings: Settings, workflowId: string, runId?: string): string | undefined {
  if (!settings.temporal.webUi) return undefined;
  const base = `${settings.temporal.webUi}/namespaces/${encodeURIComponent(settings.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${runId}/history` : base;
}
