// A local HTTP server that speaks the Gemini REST API's generateContent wire format, so the real
// @google/genai SDK can be pointed at it (httpOptions.baseUrl). It enforces an API key and a rate limit
// the way Gemini does (400 API_KEY_INVALID, 403 PERMISSION_DENIED, 429 RESOURCE_EXHAUSTED with RetryInfo),
// and can be told to misbehave: 5xx, malformed JSON, missing, repeated or over-long messages.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { kind: 'status'; status: 429 | 500 | 503; retryDelaySeconds?: number }
  | { kind: 'malformed-json' }
  | { kind: 'drop-ids'; count: number }
  | { kind: 'repeat-id' };

export interface FakeGeminiOptions {
  apiKey: string;
  /** Time each answer takes, like a real model's: fixed, or by how many customers the request carries. */
  latencyMs?: number | ((customers: number) => number);
  /** Requests allowed per window; more get a 429 whose RetryInfo says when the window frees up. */
  rateLimit?: { requests: number; windowMs: number };
  /** Ids whose message is always too long (the model ignoring the word limit). */
  alwaysTooLong?: string[];
}

export interface LoggedRequest {
  at: number;
  model: string;
  ids: string[];
  status: number;
}

interface PromptCustomer {
  id: string;
  nome: string;
  interesse: string;
}

export class FakeGemini {
  readonly requests: LoggedRequest[] = [];
  private readonly faults: Fault[] = [];
  private readonly accepted: number[] = [];
  private server?: Server;
  url = '';

  constructor(private readonly options: FakeGeminiOptions) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The next requests (one fault each, in order) misbehave. */
  inject(...faults: Fault[]): void {
    this.faults.push(...faults);
  }

  /** How many times each customer id was sent to the model. */
  timesAsked(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const request of this.requests) for (const id of request.ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    return counts;
  }

  reset(): void {
    this.requests.length = 0;
    this.faults.length = 0;
    this.accepted.length = 0;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const match = /^\/v1beta\/models\/([^/:]+):generateContent$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !match) return this.error(res, 404, 'NOT_FOUND', `no route ${req.method} ${req.url}`);
    const model = match[1];
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { contents: { parts: { text: string }[] }[] };
    const prompt = body.contents.flatMap((c) => c.parts.map((p) => p.text)).join('\n');
    const customers = customersIn(prompt);
    const log = (status: number) => this.requests.push({ at: Date.now(), model, ids: customers.map((c) => c.id), status });

    const key = req.headers['x-goog-api-key'];
    if (!key) {
      log(403);
      return this.error(res, 403, 'PERMISSION_DENIED', 'Method doesn\'t allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.');
    }
    if (key !== this.options.apiKey) {
      log(400);
      return this.error(res, 400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.',
        [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' }]);
    }
    const waitMs = this.rateLimitWait();
    if (waitMs > 0) {
      log(429);
      return this.tooManyRequests(res, Math.ceil(waitMs / 1000));
    }
    const fault = this.faults.shift();
    if (fault?.kind === 'status') {
      log(fault.status);
      if (fault.status === 429) return this.tooManyRequests(res, fault.retryDelaySeconds);
      return this.error(res, fault.status, 'INTERNAL', 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting');
    }
    const latency = this.options.latencyMs;
    await new Promise((resolve) => setTimeout(resolve, typeof latency === 'function' ? latency(customers.length) : (latency ?? 0)));
    log(200);
    let items = customers.map((c) => ({ id: c.id, message: this.messageFor(c) }));
    if (fault?.kind === 'drop-ids') items = items.slice(fault.count);
    if (fault?.kind === 'repeat-id' && items.length > 0) items = [...items, { ...items[0], message: 'Outra mensagem repetida' }];
    const text = fault?.kind === 'malformed-json' ? `Claro! Aqui estão as mensagens: ${JSON.stringify(items).slice(0, -3)}` : JSON.stringify(items);
    this.json(res, 200, {
      candidates: [{ content: { role: 'model', parts: [{ text }] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 40 + 25 * customers.length, candidatesTokenCount: 18 * items.length,
        totalTokenCount: 40 + 43 * customers.length },
      modelVersion: model,
      responseId: `fake-${this.requests.length}`,
    });
  }

  private messageFor(customer: PromptCustomer): string {
    const first = customer.nome.split(' ')[0];
    if (this.options.alwaysTooLong?.includes(customer.id)) {
      return `${first}, esta é uma mensagem longa demais que ignora completamente o limite de palavras pedido no prompt`;
    }
    return `${first}, seu futuro em ${customer.interesse} começa hoje. Invista com a gente!`;
  }

  /** Milliseconds until the rate-limit window has room; 0 accepts the request now. */
  private rateLimitWait(): number {
    const limit = this.options.rateLimit;
    if (!limit) return 0;
    const now = Date.now();
    while (this.accepted.length > 0 && this.accepted[0] <= now - limit.windowMs) this.accepted.shift();
    if (this.accepted.length >= limit.requests) return this.accepted[0] + limit.windowMs - now;
    this.accepted.push(now);
    return 0;
  }

  private tooManyRequests(res: ServerResponse, retryDelaySeconds?: number): void {
    const details: object[] = [{ '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
      violations: [{ quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests', quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier' }] }];
    if (retryDelaySeconds !== undefined) details.push({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retryDelaySeconds}s` });
    this.error(res, 429, 'RESOURCE_EXHAUSTED', 'You exceeded your current quota, please check your plan and billing details.', details);
  }

  private error(res: ServerResponse, code: number, status: string, message: string, details?: object[]): void {
    this.json(res, code, { error: { code, message, status, ...(details ? { details } : {}) } });
  }

  private json(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(JSON.stringify(body));
  }
}

/** The customers the prompt carries: the last JSON list in it. */
function customersIn(prompt: string): PromptCustomer[] {
  const start = prompt.lastIndexOf('[');
  const end = prompt.lastIndexOf(']');
  if (start < 0 || end < start) return [];
  try {
    return JSON.parse(prompt.slice(start, end + 1)) as PromptCustomer[];
  } catch {
    return [];
  }
}
