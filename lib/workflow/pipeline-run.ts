// What every pipeline run does around its story, in one place: validate the input, serve the progress query, set
// the search attributes (EtlPipeline at the start; EtlOutcome and EtlRowsLoaded on EVERY way out: success, bad input,
// failure, cancellation), and run cleanup that a cancellation cannot skip.
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import {
  ApplicationFailure, CancellationScope, ContinueAsNew, isCancellation, patched, setHandler, upsertSearchAttributes, type QueryDefinition,
} from '@temporalio/workflow';
import type { z } from 'zod';
import { ErrorType } from './errors';
import { OUTCOME, PIPELINE, ROWS_LOADED } from './search-attributes';
import { describeIssues } from './validation';

/** Before this patch, a run that failed on its input (or, in some pipelines, in its first step) set no EtlOutcome. */
const OUTCOME_ON_EVERY_PATH = 'etl-outcome-on-every-path';
/** Before this patch, a cancelled run's failure handlers and cleanup never started, and its outcome said failed. */
const CLEANUP_WHEN_CANCELLED = 'etl-cleanup-when-cancelled';

/** Cleanup that a cancellation cannot stop. */
const nonCancellable = <T>(work: () => Promise<T>): Promise<T> => CancellationScope.nonCancellable(work);
/** How histories recorded before CLEANUP_WHEN_CANCELLED ran cleanup: in the cancelled scope, failing at once. */
const inCancelledScope = <T>(work: () => Promise<T>): Promise<T> => work();

export interface PipelineProgress {
  step: string;
}

export interface PipelineRun {
  /** Search attributes that go with the run's outcome, whatever it is (e.g. crmFeatures' quality grade). */
  outcomeAttributes: SearchAttributeUpdatePair[];
  /** Runs when the run fails or is cancelled, before the failure is raised (e.g. mark etl_control failed). */
  onFailure(handler: (error: unknown) => Promise<unknown>): void;
  /** Runs however the run ends (e.g. drop its staging tables); a cancellation does not skip it. */
  onExit(cleanup: () => Promise<unknown>): void;
}

export interface PipelineDefinition<Schema extends z.ZodType, Result, Progress extends PipelineProgress> {
  /** The workflow type, as EtlPipeline. */
  workflowType: string;
  inputSchema: Schema;
  progressQuery: QueryDefinition<Progress>;
  /** The progress object the story updates; the query returns it as it is. */
  progress: Progress;
  /** EtlOutcome (default `success`) and EtlRowsLoaded of a run that returned. */
  succeeded(result: Result): { outcome?: string; rowsLoaded: number };
  /**
   * Histories recorded before the outcome patch set EtlOutcome on failure only past some point of the story; this
   * says whether a failure is past it, so those histories replay unchanged.
   */
  failureOutcomeBeforePatch(progress: Progress, error: unknown): boolean;
}

export async function runPipeline<Schema extends z.ZodType, Result, Progress extends PipelineProgress>(
  definition: PipelineDefinition<Schema, Result, Progress>,
  input: unknown,
  story: (options: z.output<Schema>, run: PipelineRun) => Promise<Result>,
): Promise<Result> {
  const { progress } = definition;
  setHandler(definition.progressQuery, () => progress);
  upsertSearchAttributes([{ key: PIPELINE, value: definition.workflowType }]);
  const failureHandlers: ((error: unknown) => Promise<unknown>)[] = [];
  const exitHandlers: (() => Promise<unknown>)[] = [];
  let cleanUp: <T>(work: () => Promise<T>) => Promise<T> = nonCancellable;
  let continuing = false;
  const run: PipelineRun = {
    outcomeAttributes: [],
    onFailure: (handler) => failureHandlers.push(handler),
    onExit: (cleanup) => exitHandlers.push(cleanup),
  };
  try {
    const parsed = definition.inputSchema.safeParse(input ?? {});
    if (!parsed.success) throw ApplicationFailure.nonRetryable(describeIssues('input', parsed.error), ErrorType.InvalidInput);
    const result = await story(parsed.data, run);
    const { outcome = 'success', rowsLoaded } = definition.succeeded(result);
    upsertSearchAttributes([{ key: OUTCOME, value: outcome }, { key: ROWS_LOADED, value: rowsLoaded }, ...run.outcomeAttributes]);
    progress.step = 'done';
    return result;
  } catch (error) {
    // Continuing as new is not an end: no outcome, no failure handlers, no cleanup (the next run goes on with it).
    if (error instanceof ContinueAsNew) {
      continuing = true;
      throw error;
    }
    const cancelled = isCancellation(error);
    // Before this patch, a cancelled run's cleanup ran in the cancelled scope, where it could not start.
    if (cancelled && !patched(CLEANUP_WHEN_CANCELLED)) cleanUp = inCancelledScope;
    await cleanUp(async () => {
      for (const handler of failureHandlers) await handler(error);
    });
    if (definition.failureOutcomeBeforePatch(progress, error) || patched(OUTCOME_ON_EVERY_PATH)) {
      const outcome = cancelled && cleanUp !== inCancelledScope ? 'cancelled' : 'failed';
      upsertSearchAttributes([{ key: OUTCOME, value: outcome }, ...run.outcomeAttributes]);
    }
    progress.step = cancelled ? 'cancelled' : 'failed';
    throw error;
  } finally {
    if (!continuing) {
      await cleanUp(async () => {
        for (const cleanup of exitHandlers) await cleanup();
      });
    }
  }
}
