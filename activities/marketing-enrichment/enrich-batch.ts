// Step 3 of marketingEnrichment: one request for one batch of customers, and its messages stored at once.
// The activity asks only for the batch's customers that still have no message, so a retried attempt (a
// crash, a 429, a bad answer) never asks twice for a customer whose message was already kept.
import type { EnrichmentOptions, Interest, Provider } from '../../lib/contracts/marketing-enrichment';
import { askGemini, createGeminiClient, type ModelAnswer } from './gemini';
import { checkAnswer, countWords, offlineMessage, renderPrompt, type CustomerForPrompt } from './messages';
import type { MarketingDeps, RunRef } from './stage-customers';
import { withHeartbeat } from '../../lib/activity/heartbeat';

export interface BatchRequest extends RunRef {
  batch: number;
  campaign: string;
  promptVersion: string;
  provider: Provider;
  model: string;
  prompt: EnrichmentOptions['prompt'];
  /** On the last round, customers still without a usable message are stored as failed, with the reason. */
  lastRound: boolean;
}

export interface BatchOutcome {
  asked: number;
  enriched: number;
  /** Customers whose message was missing or broken this round; asked again next round. */
  retry: number;
  failed: number;
  requests: number;
  tokens: ModelAnswer['tokens'];
}

interface StoredRow {
  customer_id: string;
  status: 'enriched' | 'failed';
  message: string | null;
  word_count: number | null;
  failure_reason: string | null;
}


export async function enrichBatch(deps: MarketingDeps, request: BatchRequest): Promise<BatchOutcome> {
  const customers = await customersStillWithoutMessage(deps, request);
  const outcome: BatchOutcome = { asked: customers.length, enriched: 0, retry: 0, failed: 0, requests: 0, tokens: null };
  if (customers.length === 0) return outcome;

  let accepted: Map<string, string>;
  let problems: Map<string, string>;
  if (request.provider === 'offline') {
    accepted = new Map(customers.map((c) => [c.id, firstWords(offlineMessage(c), request.prompt.maxWords)]));
    problems = new Map();
  } else {
    const answer = await withHeartbeat(() => askGemini(geminiClient(deps), request.model, renderPrompt(request.prompt, customers)));
    outcome.requests = 1;
    outcome.tokens = answer.tokens;
    ({ accepted, problems } = checkAnswer(answer.text, customers.map((c) => c.id), request.prompt.maxWords));
  }

  const rows: StoredRow[] = [...accepted].map(([id, message]) => ({
    customer_id: id, status: 'enriched', message, word_count: countWords(message), failure_reason: null,
  }));
  if (request.lastRound) {
    rows.push(...[...problems].map(([id, reason]) => ({
      customer_id: id, status: 'failed' as const, message: null, word_count: null, failure_reason: reason,
    })));
  }
  await store(deps, request, rows);
  outcome.enriched = accepted.size;
  outcome.failed = request.lastRound ? problems.size : 0;
  outcome.retry = request.lastRound ? 0 : problems.size;
  return outcome;
}

let cachedClient: { key: string; client: ReturnType<typeof createGeminiClient> } | undefined;

function geminiClient({ settings }: MarketingDeps) {
  const { apiKey = '', baseUrl } = settings.gemini;
  const key = `${apiKey}@${baseUrl ?? ''}`;
  if (cachedClient?.key !== key) cachedClient = { key, client: createGeminiClient({ apiKey, baseUrl }) };
  return cachedClient.client;
}


const firstWords = (text: string, max: number) => text.split(/\s+/).slice(0, max).join(' ');

async function customersStillWithoutMessage(deps: MarketingDeps, request: BatchRequest): Promise<CustomerForPrompt[]> {
  // A customer that failed in an earlier run is asked again; one that failed in this run already had its rounds.
  const { rows } = await deps.target.query<{ id: string; name: string; interest: Interest; city: string | null }>(
    `SELECT c.customer_id AS id, c.name, c.interest, c.city
       FROM marketing_run_customers rc
       JOIN marketing_customers c USING (customer_id)
       LEFT JOIN marketing_messages m
              ON m.customer_id = rc.customer_id AND m.campaign = $3 AND m.prompt_version = $4
      WHERE rc.workflow_id = $1 AND rc.batch = $2
        AND (m.customer_id IS NULL OR (m.status = 'failed' AND m.run_id <> $5))
      ORDER BY rc.line`,
    [request.workflowId, request.batch, request.campaign, request.promptVersion, request.runId]);
  return rows;
}

/** A message once stored as enriched is never replaced: a second attempt racing the first cannot write twice. */
async function store(deps: MarketingDeps, request: BatchRequest, rows: StoredRow[]): Promise<void> {
  if (rows.length === 0) return;
  await deps.target.query(
    `INSERT INTO marketing_messages (customer_id, campaign, prompt_version, status, message, word_count, failure_reason,
                                     provider, model, workflow_id, run_id, batch)
     SELECT r.customer_id, $2, $3, r.status, r.message, r.word_count, r.failure_reason, $4, $5, $6, $7, $8
       FROM json_to_recordset($1::json) AS r(customer_id text, status text, message text, word_count int, failure_reason text)
     ON CONFLICT (customer_id, campaign, prompt_version) DO UPDATE
       SET status = EXCLUDED.status, message = EXCLUDED.message, word_count = EXCLUDED.word_count,
           failure_reason = EXCLUDED.failure_reason, provider = EXCLUDED.provider, model = EXCLUDED.model,
           workflow_id = EXCLUDED.workflow_id, run_id = EXCLUDED.run_id, batch = EXCLUDED.batch, created_at = now()
       WHERE marketing_messages.status = 'failed'`,
    [JSON.stringify(rows), request.campaign, request.promptVersion, request.provider,
      request.provider === 'offline' ? null : request.model, request.workflowId, request.runId, request.batch]);
}
