// One Gemini request for a batch of customers, through the real @google/genai SDK. Gemini's errors become
// Temporal failures: a 429 waits as long as its RetryInfo asks, 5xx and timeouts retry by the activity's
// policy, and a bad request or a bad key fails at once with a message that names the cause.
import type * as GenAI from '@google/genai' with { 'resolution-mode': 'import' };
import { ApplicationFailure } from '@temporalio/common';
import { httpStatusKind } from '../../lib/activity/errors';
import { ErrorType } from '../../lib/workflow/errors';

// The SDK ships a CommonJS build, but its typings are declared as ES module only; this project is CommonJS.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ApiError, GoogleGenAI, Type } = require('@google/genai') as typeof GenAI;
type GoogleGenAI = GenAI.GoogleGenAI;
type ApiError = GenAI.ApiError;

export interface GeminiSettings {
  apiKey: string;
  baseUrl?: string;
}

export interface ModelAnswer {
  /** The model's text: a JSON list of {id, message} when it follows the schema. */
  text: string;
  tokens: { prompt: number; output: number; total: number } | null;
}

const REQUEST_TIMEOUT_MS = 90_000;

const answerSchema = {
  type: Type.ARRAY,
  items: {
    type: Type.OBJECT,
    properties: { id: { type: Type.STRING }, message: { type: Type.STRING } },
    required: ['id', 'message'],
    propertyOrdering: ['id', 'message'],
  },
};

export function createGeminiClient(settings: GeminiSettings): GoogleGenAI {
  return new GoogleGenAI({
    apiKey: settings.apiKey,
    // No SDK-level retries: Temporal's retry policy owns them, so every attempt is visible in the history.
    httpOptions: { timeout: REQUEST_TIMEOUT_MS, ...(settings.baseUrl ? { baseUrl: settings.baseUrl } : {}) },
  });
}

export async function askGemini(client: GoogleGenAI, model: string, prompt: string): Promise<ModelAnswer> {
  try {
    const response = await client.models.generateContent({
      model,
      contents: prompt,
      config: { responseMimeType: 'application/json', responseSchema: answerSchema, temperature: 0.8 },
    });
    const usage = response.usageMetadata;
    return {
      text: response.text ?? '',
      tokens: usage
        ? { prompt: usage.promptTokenCount ?? 0, output: usage.candidatesTokenCount ?? 0, total: usage.totalTokenCount ?? 0 }
        : null,
    };
  } catch (error) {
    throw error instanceof ApiError ? toFailure(error, model) : error;
  }
}

interface GoogleErrorBody {
  error?: { code?: number; message?: string; status?: string; details?: { '@type'?: string; reason?: string; retryDelay?: string }[] };
}

function parseBody(error: ApiError): GoogleErrorBody {
  try {
    return JSON.parse(error.message) as GoogleErrorBody;
  } catch {
    return { error: { message: error.message } };
  }
}

/** RetryInfo's delay ("37s", "1.5s") in milliseconds, when the error carries one. */
export function retryDelayMs(body: GoogleErrorBody): number | undefined {
  const retryInfo = body.error?.details?.find((d) => d['@type']?.endsWith('google.rpc.RetryInfo'));
  const seconds = retryInfo?.retryDelay ? Number.parseFloat(retryInfo.retryDelay) : Number.NaN;
  return Number.isFinite(seconds) ? Math.round(seconds * 1000) : undefined;
}

export function toFailure(error: ApiError, model: string): Error {
  const body = parseBody(error);
  const said = body.error?.message ?? error.message;
  const status = error.status;
  const kind = httpStatusKind(status);
  if (kind === 'rate-limited') {
    const delay = retryDelayMs(body);
    return ApplicationFailure.create({
      type: ErrorType.RateLimited,
      message: `Gemini rate limit (429 ${body.error?.status ?? 'RESOURCE_EXHAUSTED'}): ${said}${delay === undefined ? '' : ` (retrying in ${delay / 1000} s, as Gemini asked)`}`,
      nextRetryDelay: delay,
    });
  }
  const keyRejected = body.error?.details?.some((d) => d.reason === 'API_KEY_INVALID');
  if (keyRejected || kind === 'credentials') {
    return ApplicationFailure.nonRetryable(
      `Gemini refused the API key (${status} ${body.error?.status ?? ''}): ${said} Check GEMINI_API_KEY on the workers (https://aistudio.google.com/apikey).`,
      ErrorType.AuthenticationError);
  }
  if (status === 404) {
    return ApplicationFailure.nonRetryable(`Gemini has no model "${model}" (404): ${said} Use a model name such as gemini-2.5-flash-lite.`, ErrorType.BadRequest);
  }
  if (kind === 'rejected') {
    return ApplicationFailure.nonRetryable(`Gemini rejected the request (${status} ${body.error?.status ?? ''}): ${said}`, ErrorType.BadRequest);
  }
  return ApplicationFailure.retryable(`Gemini answered ${status} ${body.error?.status ?? ''}: ${said}`, ErrorType.GeminiUnavailable);
}
