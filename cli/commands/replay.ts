import { readFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { msToNumber } from '@temporalio/common/lib/time';
import { Worker, type ReplayWorkerOptions } from '@temporalio/worker';
import { ConfigError, type EtlConfig } from '../../lib/config/env';
import { installWorkerLogging } from '../../lib/temporal/logging';
import { allWorkflowTypes } from '../../lib/pipelines';
import { resolveSettings, type Settings } from '../../lib/config/settings';
import { connectClient, dataConverter } from '../../lib/temporal/connection';
import { printJson, say } from '../output';

export interface ReplayOptions {
  workflowId?: string;
  history?: string;
  all?: boolean;
  since: string;
  type?: string;
}

// Encrypted histories replay only through the codec that wrote them.
const replayOptions = (settings: Settings): ReplayWorkerOptions =>
  ({ workflowsPath: require.resolve('../../workflows'), dataConverter: dataConverter(settings) });

/**
 * Replays recorded histories against the workflow code of this checkout: a change that would break running
 * workflows (nondeterminism) fails here, naming the workflow and the event where the code and history differ.
 */
export async function replay(config: EtlConfig, options: ReplayOptions): Promise<number> {
  const chosen = [options.workflowId, options.history, options.all].filter(Boolean).length;
  if (chosen !== 1) throw new ConfigError('give one of --workflow-id <id>, --history <file.json> or --all [--since 24h] [--type <workflowType>]');
  const sinceMs = options.all ? durationMs(options.since) : 0;
  // The replay worker's bundling and state chatter is not what the operator asked for; warnings still show.
  installWorkerLogging('ERROR');
  const settings = resolveSettings(config);
  if (options.history) return replayOne(settings, readHistory(options.history), options.history);
  const client = await connectClient(settings);
  try {
    if (options.workflowId) return await replayOne(settings, await client.workflow.getHandle(options.workflowId).fetchHistory(), options.workflowId);
    return await replayClosedRuns(settings, client, options, sinceMs);
  } finally {
    await client.connection.close();
  }
}

async function replayOne(settings: Settings, history: unknown, label: string): Promise<number> {
  try {
    await Worker.runReplayHistory(replayOptions(settings), history, label);
    say(`${label}: replayed with the current workflow code, deterministic`);
    return 0;
  } catch (error) {
    say(`${label}: replay FAILED: ${(error as Error).message}`);
    return 1;
  }
}

/** Every run of our workflow types (or one type) that closed in the last `since`, replayed one after another. */
async function replayClosedRuns(settings: Settings, client: Client, options: ReplayOptions, sinceMs: number): Promise<number> {
  const types = options.type ? [options.type] : allWorkflowTypes();
  const since = new Date(Date.now() - sinceMs).toISOString();
  const query = `ExecutionStatus != 'Running' AND CloseTime > '${since}' AND WorkflowType IN (${types.map((t) => `'${t}'`).join(', ')})`;
  const results: { workflowId: string; runId: string; ok: boolean; error?: string }[] = [];
  const histories = client.workflow.list({ query }).intoHistories();
  for await (const result of Worker.runReplayHistories(replayOptions(settings), histories)) {
    const error = result.error ? (result.error as Error).message : undefined;
    results.push({ workflowId: result.workflowId, runId: result.runId, ok: !error, ...(error ? { error } : {}) });
    say(`${result.workflowId} (${result.runId}): ${error ? `replay FAILED: ${error}` : 'deterministic'}`);
  }
  const failed = results.filter((r) => !r.ok).length;
  say(`${results.length} closed run(s) since ${since} replayed: ${results.length - failed} deterministic, ${failed} failed`);
  printJson({ since, types, replayed: results.length, failed, results });
  return failed > 0 ? 1 : 0;
}

function durationMs(text: string): number {
  let value: number | undefined;
  try {
    value = msToNumber(text as Parameters<typeof msToNumber>[0]);
  } catch {
    value = undefined;
  }
  if (!value || !Number.isFinite(value) || value <= 0) throw new ConfigError(`--since ${text}: not a duration (e.g. 24h, 7d, 90m)`);
  return value;
}

function readHistory(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`cannot read history ${file}: ${(error as Error).message}`);
  }
}
