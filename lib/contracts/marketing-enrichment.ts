// The marketingEnrichment pipeline's input and result: shared by the workflow, its activities and the CLI.
import { z } from 'zod';

/** The financial interests a customer can have; the spelling here is what messages and files show. */
export const INTERESTS = ['Cripto', 'FIIs', 'Ações', 'Tesouro Direto', 'Renda Fixa'] as const;
export type Interest = (typeof INTERESTS)[number];

/** Gemini requests run on their own task queue next to the pipeline's, rate limited by GEMINI_RPM. */
export const geminiTaskQueue = (pipelineQueue: string): string => `${pipelineQueue}-gemini`;

export const DEFAULT_MODEL = 'gemini-2.5-flash-lite';

/**
 * The default prompt. `{maxWords}`, `{tone}` and `{customers}` are filled in; `{customers}` becomes a JSON
 * list of `{id, nome, interesse, cidade}` and the answer must be a JSON list of `{id, message}`.
 */
export const DEFAULT_PROMPT_TEMPLATE = [
  'Você é redator de marketing de uma plataforma brasileira de investimentos.',
  'Para cada cliente da lista, escreva uma mensagem personalizada em português do Brasil,',
  'com no máximo {maxWords} palavras e tom {tone}, que cite o primeiro nome do cliente e o seu interesse.',
  'Responda apenas com JSON: uma lista com um objeto {"id", "message"} por cliente, usando o mesmo id.',
  '',
  'Clientes:',
  '{customers}',
].join('\n');

const slug = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be a short slug: lowercase letters, digits, - and _');

/** Where the customers come from: a local path, or `s3://bucket/key` (`s3:key` uses the configured bucket). */
const customersFile = z
  .string()
  .min(1)
  .refine((value) => /\.(csv|txt|xlsx)$/i.test(value), 'must be a .csv or .xlsx file')
  .refine((value) => !value.split(/[\\/]/).includes('..'), 'must not contain ".." segments');

const noClimb = (value: string) => !value.split(/[\\/]/).includes('..') && !value.includes('\0');
const folder = z.string().min(1).refine(noClimb, 'must not contain ".." segments');

/** A folder on the worker, always under the export root (ETL_EXPORT_DIR): relative, never climbing out. */
export const LOCAL_FOLDER_RULE = 'must be a folder relative to the export root ETL_EXPORT_DIR, e.g. "marketing/june" (no absolute path, no ".." segments)';
const localFolder = z
  .string()
  .min(1)
  .refine((value) => noClimb(value) && !/^([\\/]|[A-Za-z]:)/.test(value) && !value.includes('\\'), LOCAL_FOLDER_RULE);

/** The input; `exportFolder` is outputs.folder's rule (runs started before the export root took any folder). */
const inputSchema = (exportFolder: z.ZodType<string>) => z
  .object({
    /** Customers file; without it the demo's sample customers are used (generated on first use). */
    customers: customersFile.optional(),
    /** Messages are kept per campaign and prompt version: a new campaign or prompt enriches everyone again. */
    campaign: slug.default('default'),
    model: z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be a model name such as gemini-2.5-flash-lite').default(DEFAULT_MODEL),
    prompt: z
      .object({
        template: z.string().min(20).refine((t) => t.includes('{customers}'), 'must contain {customers}').default(DEFAULT_PROMPT_TEMPLATE),
        maxWords: z.number().int().min(3).max(60).default(12),
        tone: z.string().min(2).max(60).default('amigável e direto'),
      })
      .strict()
      .default({ template: DEFAULT_PROMPT_TEMPLATE, maxWords: 12, tone: 'amigável e direto' }),
    /** Customers per request: one request carries this many customers and returns one message each. */
    batchSize: z.number().int().min(1).max(200).default(50),
    /** Requests in flight at once; the requests-per-minute cap (GEMINI_RPM) applies on top. */
    maxParallelRequests: z.number().int().min(1).max(64).default(4),
    /** How many times customers whose message came back missing or too long are asked again. */
    retryRounds: z.number().int().min(0).max(5).default(2),
    /** A 429 that outlasts the request's retry budget: the batch waits and is sent again, until the deadline. */
    rateLimit: z
      .object({
        /** Attempts of one request (each 429 waiting as long as Gemini asks) before the batch waits. */
        attempts: z.number().int().min(1).max(50).default(12),
        /** How long a batch waits (a durable timer) before it is sent again. */
        pauseSeconds: z.number().min(1).max(86_400).default(300),
        /** Minutes from the run's start after which no batch waits again or starts: the rest is left for a rerun. */
        deadlineMinutes: z.number().positive().max(7 * 24 * 60).default(720),
      })
      .strict()
      .default({ attempts: 12, pauseSeconds: 300, deadlineMinutes: 720 }),
    outputs: z
      .object({
        /** Folder for the XLSX and CSV on the worker, relative to ETL_EXPORT_DIR (default `<ETL_DATA_DIR>/exports`); default `marketing`. */
        folder: exportFolder.optional(),
        /** Key prefix in the configured S3 bucket, e.g. `exports/marketing/`. */
        s3Prefix: folder.optional(),
        /** Folder on the configured SFTP server. */
        sftpFolder: folder.optional(),
      })
      .strict()
      .default({}),
  })
  .strict();

export const enrichmentInputSchema = inputSchema(localFolder);
/** For the histories of runs started before ETL_EXPORT_DIR (patch `export-folder-under-root`): an absolute folder passed. */
export const enrichmentInputSchemaBeforeExportRoot = inputSchema(folder);

export type EnrichmentInput = z.input<typeof enrichmentInputSchema>;
export type EnrichmentOptions = z.output<typeof enrichmentInputSchema>;

export type Provider = 'gemini' | 'offline';

export interface EnrichmentResult {
  pipeline: 'marketingEnrichment';
  provider: Provider;
  /** Says plainly when no AI was called (no GEMINI_API_KEY). */
  note?: string;
  model: string;
  campaign: string;
  promptVersion: string;
  customersRead: number;
  customersQuarantined: number;
  /** Customers that already had a message for this campaign and prompt version before this run. */
  alreadyEnriched: number;
  enriched: number;
  failed: number;
  requests: number;
  tokens: { prompt: number; output: number; total: number } | null;
  files: string[];
  /** Times a batch, still rate limited after its retry budget, waited on a timer (absent in runs from before). */
  rateLimitWaits?: number;
  /** Customers left without a message because the deadline came while Gemini still answered 429. */
  deferred?: number;
  /** Runs of this workflow id: more than one when a long base continued as new. */
  runs?: number;
}

export interface EnrichmentProgress {
  step: string;
  total: number;
  done: number;
  failed: number;
}
