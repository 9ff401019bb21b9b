import { ActivityFailure, ApplicationFailure, continueAsNew, defineQuery, log, patched, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import { cancellationType } from '../lib/workflow/cancellation';
import type { BatchOutcome, BatchPlan, MarketingActivities, StagedCustomers } from '../activities/marketing-enrichment';
import {
  enrichmentInputSchema, enrichmentInputSchemaBeforeExportRoot, geminiTaskQueue, type EnrichmentInput, type EnrichmentProgress, type EnrichmentResult,
} from '../lib/contracts/marketing-enrichment';
import { summarized } from '../lib/workflow/activity-summary';
import { ErrorType } from '../lib/workflow/errors';
import { runPipeline } from '../lib/workflow/pipeline-run';
import { retryPolicies } from '../lib/workflow/retry-policies';

/** Before this patch, a batch still rate limited after its retry budget failed the run. */
const RATE_LIMIT_WAITS = 'marketing-rate-limit-waits';
/** outputs.folder is relative to the export root (ETL_EXPORT_DIR): an absolute one fails the input check. */
const EXPORT_FOLDER_UNDER_ROOT = 'export-folder-under-root';
/** Before this patch, a run sent every batch in one history, whatever its length. */
const CONTINUE_AS_NEW = 'marketing-continue-as-new';
/**
 * A run continues as new once its history passes this many events (or the server suggests it): about 300 batches.
 * A 1,000,000-customer base is 20,000 batches of 50: some 70 runs of a couple of thousand events each, where one
 * history would pass Temporal's 51,200-event limit.
 */
export const MAX_HISTORY_EVENTS = 2000;

/** What a run hands the next one when it continues as new: everything but the input, which goes along as it is. */
export interface EnrichmentContinuation {
  staged: StagedCustomers;
  plan: BatchPlan;
  nextBatch: number;
  totals: Totals;
  rateLimitWaits: number;
  deferred: number;
  /** The first run's start: the deadline and the files' names count from it. */
  startedAt: string;
  runs: number;
}

type Totals = { enriched: number; failed: number; requests: number; tokens: EnrichmentResult['tokens'] };

// Problems no retry can fix: a missing or unreadable file, a rejected API key, a request Gemini refuses.

const { stageCustomers, planBatches, exportResults } = proxyActivities<MarketingActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: retryPolicies.shortStep,
});

// One model request per attempt. A 429 waits as long as Gemini's RetryInfo says (the failure's nextRetryDelay),
// otherwise backs off exponentially; 5xx and timeouts retry; a dead worker is noticed after 20 s of silence.
// No schedule-to-start timeout: waiting in the rate-limited queue is expected.
const requestRetry = {
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '20 seconds',
  retry: retryPolicies.modelRequest,
} as const;

export const enrichmentProgressQuery = defineQuery<EnrichmentProgress>('progress');

/** Customers -> a short personalised pt-BR message each, kept in Postgres as batches return -> XLSX and CSV. */
export async function marketingEnrichment(input: EnrichmentInput = {}, continuation?: EnrichmentContinuation): Promise<EnrichmentResult> {
  const progress: EnrichmentProgress = { step: 'validating input', total: 0, done: 0, failed: 0 };
  return runPipeline({
    workflowType: 'marketingEnrichment',
    // Runs recorded before the export root accepted any outputs.folder; the export step refuses one outside it anyway.
    inputSchema: patched(EXPORT_FOLDER_UNDER_ROOT) ? enrichmentInputSchema : enrichmentInputSchemaBeforeExportRoot,
    progressQuery: enrichmentProgressQuery, progress,
    succeeded: (result: EnrichmentResult) => ({ rowsLoaded: result.enriched }),
    failureOutcomeBeforePatch: ({ step }) => step !== 'validating input',
  }, input, async (options) => {
    const { workflowId, runId, taskQueue, startTime } = workflowInfo();
    const run = { workflowId, runId };
    const startedAt = continuation?.startedAt ?? startTime.toISOString();

    let staged: StagedCustomers;
    let plan: BatchPlan;
    if (continuation) {
      // A run continued as new: the customers are staged and numbered into batches already.
      ({ staged, plan } = continuation);
    } else {
      // 1. Read the customers file; rows with no id, no name or an unknown interest go to quarantine.
      progress.step = 'reading customers';
      staged = await summarized(stageCustomers, `customers ${options.customers ?? '(sample)'}`)(options, run);
      if (staged.provider === 'offline') log.warn('GEMINI_API_KEY is not set: no AI is called, messages come from templates per interest');

      // 2. The delta: only customers with no message yet for this campaign and prompt version are sent.
      plan = await planBatches({ workflowId, campaign: options.campaign, promptVersion: staged.promptVersion, batchSize: options.batchSize });
    }
    Object.assign(progress, { step: 'writing messages', total: plan.total, done: plan.alreadyEnriched });

    // 3. Batches of customers per request, a few in flight; Gemini requests go through a task queue whose
    //    rate limit is GEMINI_RPM, so the limit holds across every worker. Each batch's messages are stored
    //    as it returns; customers whose message came back missing or too long are asked again, then marked failed.
    //    A batch still answered 429 after its retry budget waits on a durable timer and is sent again, until the
    //    run's deadline; batches not done by then are left for a rerun (`deferred`), and the run still succeeds.
    //    A long base continues as new every MAX_HISTORY_EVENTS events of history.
    const waitOnRateLimit = patched(RATE_LIMIT_WAITS);
    const mayContinue = patched(CONTINUE_AS_NEW);
    const { enrichBatch } = proxyActivities<MarketingActivities>({
      ...requestRetry,
      // A cancelled run ends after its batches in flight have stopped or stored their messages, never before.
      cancellationType: cancellationType(),
      ...(waitOnRateLimit ? { retry: { ...requestRetry.retry, maximumAttempts: options.rateLimit.attempts } } : {}),
      taskQueue: staged.provider === 'gemini' ? geminiTaskQueue(taskQueue) : taskQueue,
    });
    const totals: Totals = continuation?.totals ?? { enriched: 0, failed: 0, requests: 0, tokens: null };
    let rateLimitWaits = continuation?.rateLimitWaits ?? 0;
    let deferred = continuation?.deferred ?? 0;
    progress.done += totals.enriched;
    progress.failed += totals.failed;
    const deadline = Date.parse(startedAt) + options.rateLimit.deadlineMinutes * 60_000;
    const pauseMs = options.rateLimit.pauseSeconds * 1000;

    /** One batch's request; a sustained 429 waits and asks again. Null: the deadline came first. */
    const request = async (batch: number, round: number): Promise<BatchOutcome | null> => {
      for (;;) {
        try {
          return await summarized(enrichBatch, `batch ${batch}, round ${round + 1}`)({
            ...run, batch, campaign: options.campaign, promptVersion: staged.promptVersion, provider: staged.provider,
            model: options.model, prompt: options.prompt, lastRound: round === options.retryRounds,
          });
        } catch (error) {
          if (!waitOnRateLimit || !rateLimited(error)) throw error;
          if (Date.now() + pauseMs > deadline) return null;
          rateLimitWaits++;
          log.warn('still rate limited after the retry budget: the batch waits and is sent again', { batch, waitSeconds: options.rateLimit.pauseSeconds });
          await sleep(pauseMs);
        }
      }
    };
    const sendBatch = async (batch: number) => {
      if (waitOnRateLimit && Date.now() > deadline) {
        deferred += batchCustomers(plan, options.batchSize, batch);
        return;
      }
      let remaining = batchCustomers(plan, options.batchSize, batch);
      for (let round = 0; round <= options.retryRounds; round++) {
        const outcome = await request(batch, round);
        if (!outcome) {
          // Left for a rerun: the customers still without a message in this batch.
          deferred += remaining;
          return;
        }
        remaining = outcome.retry;
        add(totals, outcome);
        progress.done += outcome.enriched;
        progress.failed += outcome.failed;
        if (outcome.retry === 0) break;
      }
    };
    const historyIsLong = () => mayContinue && (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= MAX_HISTORY_EVENTS);
    // Lanes take the next batch as their last one ends (the order forEachBounded gives), and stop taking new ones
    // once the history is long: the batches in flight finish, then the run continues as new from the next one.
    let next = continuation?.nextBatch ?? 1;
    const lane = async () => {
      while (next <= plan.batches && !historyIsLong()) await sendBatch(next++);
    };
    await Promise.all(Array.from({ length: Math.min(options.maxParallelRequests, Math.max(plan.batches - next + 1, 0)) }, lane));
    if (next <= plan.batches) {
      const state: EnrichmentContinuation = { staged, plan, nextBatch: next, totals, rateLimitWaits, deferred, startedAt, runs: (continuation?.runs ?? 1) + 1 };
      await continueAsNew<typeof marketingEnrichment>(input, state);
    }

    // 4. The business team's files: XLSX and `;` CSV, written under a temporary name and renamed.
    progress.step = 'writing files';
    const result: EnrichmentResult = {
      pipeline: 'marketingEnrichment',
      provider: staged.provider,
      ...(staged.provider === 'offline'
        ? { note: 'GEMINI_API_KEY is not set: no AI was called; messages come from fixed templates per interest (provider = offline)' }
        : {}),
      model: options.model,
      campaign: options.campaign,
      promptVersion: staged.promptVersion,
      customersRead: staged.read,
      customersQuarantined: staged.quarantined,
      alreadyEnriched: plan.alreadyEnriched,
      enriched: totals.enriched,
      failed: totals.failed,
      requests: totals.requests,
      tokens: totals.tokens,
      files: [],
      ...(waitOnRateLimit ? { rateLimitWaits, deferred } : {}),
      ...(mayContinue ? { runs: continuation?.runs ?? 1 } : {}),
    };
    if (deferred > 0) {
      result.note = [result.note, `the run's deadline (${options.rateLimit.deadlineMinutes} min) came while Gemini still answered 429: `
        + `${deferred} customers were left without a message; run the same campaign again to send them`].filter(Boolean).join('; ');
    }
    const exported = await exportResults({
      ...run, campaign: options.campaign, promptVersion: staged.promptVersion, startedAt,
      outputs: options.outputs, summary: summaryRows(result, staged.file, workflowId),
    });
    result.files = exported.files;
    return result;
  });
}

/** A 429 still there after the activity's retry budget (the activity's last failure says RateLimited). */
function rateLimited(error: unknown): boolean {
  const cause = error instanceof ActivityFailure ? error.cause : undefined;
  return cause instanceof ApplicationFailure && cause.type === ErrorType.RateLimited;
}

/** How many of the run's pending customers batch `batch` holds (the last batch may be short). */
const batchCustomers = (plan: BatchPlan, batchSize: number, batch: number) => Math.min(batchSize, plan.pending - (batch - 1) * batchSize);

function add(totals: Totals, outcome: BatchOutcome) {
  totals.enriched += outcome.enriched;
  totals.failed += outcome.failed;
  totals.requests += outcome.requests;
  if (outcome.tokens) {
    const sum = totals.tokens ?? { prompt: 0, output: 0, total: 0 };
    totals.tokens = { prompt: sum.prompt + outcome.tokens.prompt, output: sum.output + outcome.tokens.output, total: sum.total + outcome.tokens.total };
  }
}

function summaryRows(result: EnrichmentResult, file: string, workflowId: string) {
  return [
    { label: 'Arquivo de clientes', value: file },
    { label: 'Clientes lidos', value: result.customersRead },
    { label: 'Em quarentena', value: result.customersQuarantined },
    { label: 'Já tinham mensagem', value: result.alreadyEnriched },
    { label: 'Enriquecidos nesta execução', value: result.enriched },
    { label: 'Falharam', value: result.failed },
    { label: 'Requisições ao modelo', value: result.requests },
    { label: 'Tokens', value: result.tokens?.total ?? 0 },
    { label: 'Provedor', value: result.provider === 'offline' ? 'offline (sem IA: GEMINI_API_KEY não configurada)' : 'gemini' },
    { label: 'Modelo', value: result.model },
    { label: 'Campanha', value: result.campaign },
    { label: 'Versão do prompt', value: result.promptVersion },
    { label: 'Execução (workflow id)', value: workflowId },
    ...(result.rateLimitWaits === undefined ? [] : [
      { label: 'Pausas por limite de requisições (429)', value: result.rateLimitWaits },
      { label: 'Adiados para a próxima execução', value: result.deferred ?? 0 },
    ]),
  ];
}
