import os from 'node:os';
import { Client, Connection, type WorkflowClientInterceptor } from '@temporalio/client';
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
export function temporalConnectionOptions(settings: Settings, env: NodeJS.ProcessEnv = process.env): NativeConnectionOptions {
  const { name, configFile } = settings.temporal.profile;
  const overrideEnvVars = Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const { connectionOptions } = loadClientConnectConfig({
    profile: name, configSource: configFile ? { path: configFile } : undefined, overrideEnvVars,
  });
  return { ...connectionOptions, address: settings.temporal.address };
}

/**
 * Every run this client starts carries who started it in its memo (`triggeredBy`), unless the caller set one:
 * `etl run` says `cli:<user>`, code using this client `api`. Schedules are known by Temporal's own
 * TemporalScheduledById, and a run with neither was started from the Web UI.
 */
function triggeredByMemo(triggeredBy: string): WorkflowClientInterceptor {
  const withMemo = <T extends { options: { memo?: Record<string, unknown> } }>(input: T): T =>
    ({ ...input, options: { ...input.options, memo: { triggeredBy, ...input.options.memo } } });
  return {
    start: (input, next) => next(withMemo(input)),
    startWithDetails: (input, next) => next(withMemo(input)),
    signalWithStart: (input, next) => next(withMemo(input)),
  };
}

/** How runs started from the `etl` command say who started them. */
export const cliTrigger = (): string => `cli:${os.userInfo().username}`;

export async function connectClient(settings: Settings, { triggeredBy = 'api' }: { triggeredBy?: string } = {}): Promise<Client> {
  const options = temporalConnectionOptions(settings);
  const connection = await Connection.connect({
    address: options.address,
    tls: options.tls,
    apiKey: options.apiKey,
    metadata: options.metadata,
    connectTimeout: 5000,
  });
  return new Client({
    connection, namespace: settings.temporal.namespace, dataConverter: dataConverter(settings),
    interceptors: { workflow: [triggeredByMemo(triggeredBy)] },
  });
}

/** The Web UI page of one run, when we know where the UI is. */
export function webUiLink(settings: Settings, workflowId: string, runId?: string): string | undefined {
  if (!settings.temporal.webUi) return undefined;
  const base = `${settings.temporal.webUi}/namespaces/${encodeURIComponent(settings.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${runId}/history` : base;
}
