import { defineQuery, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { BatchOutcome, MarketingActivities } from '../activities/marketing-enrichment';
import { enrichmentInputSchema, geminiTaskQueue, type EnrichmentInput, type EnrichmentProgress, type EnrichmentResult } from '../lib/contracts/marketing-enrichment';
import { summarized } from '../lib/workflow/activity-summary';
import { forEachBounded } from '../lib/workflow/bounded';
import { runPipeline } from '../lib/workflow/pipeline-run';
import { retryPolicies } from '../lib/workflow/retry-policies';

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
export async function marketingEnrichment(input: EnrichmentInput = {}): Promise<EnrichmentResult> {
  const progress: EnrichmentProgress = { step: 'validating input', total: 0, done: 0, failed: 0 };
  return runPipeline({
    workflowType: 'marketingEnrichment', inputSchema: enrichmentInputSchema, progressQuery: enrichmentProgressQuery, progress,
    succeeded: (result: EnrichmentResult) => ({ rowsLoaded: result.enriched }),
    failureOutcomeBeforePatch: ({ step }) => step !== 'validating input',
  }, input, async (options) => {
    const { workflowId, runId, taskQueue, startTime } = workflowInfo();
    const run = { workflowId, runId };

    // 1. Read the customers file; rows with no id, no name or an unknown interest go to quarantine.
    progress.step = 'reading customers';
    const staged = await summarized(stageCustomers, `customers ${options.customers ?? '(sample)'}`)(options, run);
    if (staged.provider === 'offline') log.warn('GEMINI_API_KEY is not set: no AI is called, messages come from templates per interest');

    // 2. The delta: only customers with no message yet for this campaign and prompt version are sent.
    const plan = await planBatches({ workflowId, campaign: options.campaign, promptVersion: staged.promptVersion, batchSize: options.batchSize });
    Object.assign(progress, { step: 'writing messages', total: plan.total, done: plan.alreadyEnriched });

    // 3. Batches of customers per request, a few in flight; Gemini requests go through a task queue whose
    //    rate limit is GEMINI_RPM, so the limit holds across every worker. Each batch's messages are stored
    //    as it returns; customers whose message came back missing or too long are asked again, then marked failed.
    const { enrichBatch } = proxyActivities<MarketingActivities>({
      ...requestRetry,
      taskQueue: staged.provider === 'gemini' ? geminiTaskQueue(taskQueue) : taskQueue,
    });
    const totals = { enriched: 0, failed: 0, requests: 0, tokens: null as EnrichmentResult['tokens'] };
    const batches = Array.from({ length: plan.batches }, (_, i) => i + 1);
    await forEachBounded(batches, options.maxParallelRequests, async (batch) => {
      for (let round = 0; round <= options.retryRounds; round++) {
        const outcome = await summarized(enrichBatch, `batch ${batch}, round ${round + 1}`)({
          ...run, batch, campaign: options.campaign, promptVersion: staged.promptVersion, provider: staged.provider,
          model: options.model, prompt: options.prompt, lastRound: round === options.retryRounds,
        });
        add(totals, outcome);
        progress.done += outcome.enriched;
        progress.failed += outcome.failed;
        if (outcome.retry === 0) break;
      }
    });

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
    };
    const exported = await exportResults({
      ...run, campaign: options.campaign, promptVersion: staged.promptVersion, startedAt: startTime.toISOString(),
      outputs: options.outputs, summary: summaryRows(result, staged.file, workflowId),
    });
    result.files = exported.files;
    return result;
  });
}

function add(totals: { enriched: number; failed: number; requests: number; tokens: EnrichmentResult['tokens'] }, outcome: BatchOutcome) {
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
  ];
}
