import { readFileSync } from 'node:fs';
import { WorkflowFailedError, type Client, type WorkflowHandle, type WorkflowStartOptions } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { ConfigError, type EtlConfig } from '../../lib/config/env';
import { findPipeline, inputWithConfiguration } from '../../lib/pipelines';
import { resolveSettings, type Settings } from '../../lib/config/settings';
import { cliTrigger, connectClient, webUiLink } from '../../lib/temporal/connection';
import { printJson, say } from '../output';
import { followProgress } from '../progress';

export interface RunOptions {
  input?: string;
  id?: string;
  wait: boolean;
}

/** `--input` is JSON, or `@path` to a JSON file. */
export function parseInput(input: string | undefined): unknown {
  if (input === undefined) return {};
  const [text, where] = input.startsWith('@') ? [readText(input.slice(1)), `file ${input.slice(1)}`] : [input, '--input'];
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${where} is not valid JSON: ${(error as Error).message}`);
  }
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError(`cannot read input file ${file}`);
  }
}

export async function runPipeline(config: EtlConfig, name: string, options: RunOptions): Promise<number> {
  const pipeline = findPipeline(name);
  const input = inputWithConfiguration(pipeline, config, parseInput(options.input));
  const settings = resolveSettings(config);
  const client = await connectClient(settings, { triggeredBy: cliTrigger() });
  try {
    const workflowId = options.id ?? `${pipeline.name}-manual-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    return await startAndFollow(client, settings, pipeline.workflowType, { taskQueue: pipeline.taskQueue, workflowId, args: [input] }, options.wait);
  } finally {
    await client.connection.close();
  }
}

/** Temporal refuses a payload over 2 MB (its default blob size limit); the encrypted envelope adds a little. */
export const MAX_INPUT_BYTES = 2 * 1024 * 1024 - 64 * 1024;

const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** An input too big for a workflow payload, said with its size, the limit, and how large data goes instead. */
export function oversizedInputProblem(args: readonly unknown[]): string | undefined {
  const bytes = Buffer.byteLength(JSON.stringify(args));
  if (bytes <= MAX_INPUT_BYTES) return undefined;
  return `the input is ${megabytes(bytes)}, over the ${megabytes(MAX_INPUT_BYTES)} a workflow input may hold (Temporal's payload limit): `
    + 'pass large data by reference instead: a file path, a table name or an S3 key (s3://bucket/key) that the pipeline reads';
}

/** Starts a run, says where to watch it, and (with `wait`) prints its result or why it failed. */
export async function startAndFollow(
  client: Client, settings: Settings, workflowType: string, options: WorkflowStartOptions, wait: boolean,
): Promise<number> {
  const tooBig = oversizedInputProblem(options.args ?? []);
  if (tooBig) throw new ConfigError(tooBig);
  const handle = await client.workflow.start(workflowType, options);
  const { workflowId, firstExecutionRunId: runId } = handle;
  const url = webUiLink(settings, workflowId, runId);
  say(`started ${workflowType} ${workflowId}${url ? ` (${url})` : ''}`);
  if (!wait) {
    printJson({ workflowId, runId, url });
    return 0;
  }
  const started = Date.now();
  const progress = followProgress(client, handle, { tty: Boolean(process.stderr.isTTY), write: (text) => process.stderr.write(text) });
  try {
    const result = await handle.result().finally(() => progress.stop());
    say(`completed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    printJson(result);
    return 0;
  } catch (error) {
    if (!(error instanceof WorkflowFailedError)) throw error;
    say(await describeFailure(client, handle, error, settings));
    return 1;
  }
}

/** Message, failed activity and attempt, so the person knows where to look without opening the UI. */
export async function describeFailure(client: Client, handle: WorkflowHandle, error: WorkflowFailedError, settings: Settings): Promise<string> {
  const lines = [`failed: ${rootMessage(error)}`];
  const activity = error.cause instanceof ActivityFailure ? error.cause : undefined;
  if (activity) {
    const attempt = await failedAttempt(client, handle.workflowId, activity.activityId);
    lines.push(`  activity: ${activity.activityType}${attempt ? ` (attempt ${attempt})` : ''}`);
  }
  const root = activity?.cause ?? error.cause;
  if (root instanceof ApplicationFailure && root.type) lines.push(`  type: ${root.type}${root.nonRetryable ? ' (not retried)' : ''}`);
  const url = webUiLink(settings, handle.workflowId);
  if (url) lines.push(`  history: ${url}`);
  return lines.join('\n');
}

function rootMessage(error: Error): string {
  let current: Error = error;
  while (current.cause instanceof Error) current = current.cause;
  return current.message;
}

/**
 * The attempt of the activity that failed the run: the started event of that activity id (not simply the last
 * activity started: steps run side by side, and cleanup runs after the failure).
 */
export async function failedAttempt(client: Client, workflowId: string, activityId: string | undefined): Promise<number | undefined> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityId === activityId).map((e) => String(e.eventId));
  const started = events.filter((e) => scheduled.includes(String(e.activityTaskStartedEventAttributes?.scheduledEventId)));
  return started.at(-1)?.activityTaskStartedEventAttributes?.attempt ?? undefined;
}
