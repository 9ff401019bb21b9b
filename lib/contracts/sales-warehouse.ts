// salesWarehouse: its input (sources, strategy, thresholds, mappings), result and progress. Shared by the workflow,
// the activities, the CLI and the tests. Credentials never appear here: sources name the environment variable.
import { z } from 'zod';
import { timeZoneSchema } from '../workflow/zoned-time';
import { type NumberLocale, numberLocaleSchema } from './number-locale';
import { runStagingId, stagingTable } from './run';
export type { RunRef } from './run';

/** The fields a sales source is mapped onto (every one optional in a source; missing ones are null). */
export const SALES_FIELDS = ['sale_id', 'sale_date', 'updated_at', 'customer_id', 'customer_name', 'product_id', 'product_name', 'category',
  'city', 'state', 'channel', 'quantity', 'unit_price', 'discount', 'unit_cost', 'currency', 'status', 'promotion'] as const;
/** The fields of a leads source (for the conversion rate). */
export const LEAD_FIELDS = ['lead_id', 'lead_date', 'customer_id', 'channel'] as const;
export const DATASETS = ['sales', 'leads'] as const;
export type Dataset = (typeof DATASETS)[number];
export const fieldsOf = (dataset: Dataset): readonly string[] => (dataset === 'sales' ? SALES_FIELDS : LEAD_FIELDS);

const sourceName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,40}$/, 'lower-case letters, digits, _ and -');
const common = {
  name: sourceName,
  dataset: z.enum(DATASETS).default('sales'),
  /** Field -> the source's own column or JSON path (`customer.id`) when the names differ. */
  columns: z.record(z.string(), z.string()).default({}),
  /**
   * How the source writes numbers: `pt-BR` (1.234,56), `en-US` (1,234.56) or `auto` (quarantines the values the two
   * read differently, such as 1.234). Default: pt-BR for a `;`-separated file or a source whose amounts carry `R$`, else auto.
   */
  numberLocale: numberLocaleSchema.optional(),
};

export const restSourceSchema = z.object({
  kind: z.literal('rest'),
  ...common,
  url: z.string().url(),
  /** page: ?page=1&page_size=N; offset: ?offset=0&limit=N; cursor: ?limit=N&cursor=C with the next cursor in the body. */
  pagination: z.enum(['page', 'offset', 'cursor']).default('page'),
  pageSize: z.number().int().positive().max(100_000).default(1000),
  /** Where the rows are in a page's JSON body (dotted path); the body itself when it is an array. */
  itemsPath: z.string().default('data'),
  /** Where the next cursor is (cursor pagination); none or null ends the pages. */
  cursorPath: z.string().default('next_cursor'),
  /**
   * The query parameter through which the API returns only the rows updated since a time (`updated_since`,
   * `modified_after` ...): an incremental run sends the newest `updated_at` it loaded from this API, minus 10 minutes,
   * as `YYYY-MM-DDTHH:MM:SS`. Without it every run reads every page.
   */
  updatedSinceParam: z.string().regex(/^[A-Za-z0-9_.[\]-]+$/).optional(),
  /** An auth header whose value is read from an environment variable of the worker (never from the input). */
  auth: z.object({ header: z.string().default('Authorization'), env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/), prefix: z.string().default('') }).strict().optional(),
}).strict();

export const fileSourceSchema = z.object({
  kind: z.literal('file'),
  ...common,
  /** A local path, `s3://bucket/key` or `s3:key`; ending in `/`, every .csv and .xlsx under that folder or prefix. */
  location: z.string().min(1).refine((value) => !value.split(/[\\/]/).includes('..'), 'must not contain ".." segments'),
}).strict();

export const databaseSourceSchema = z.object({
  kind: z.literal('database'),
  ...common,
  /** A SELECT run read-only on the source database. */
  query: z.string().min(1),
  /** The environment variable holding the Postgres URL; default SOURCE_DATABASE_URL. */
  urlEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional(),
}).strict();

export const sourceSchema = z.discriminatedUnion('kind', [restSourceSchema, fileSourceSchema, databaseSourceSchema]);
export type SourceConfig = z.output<typeof sourceSchema>;

export const salesThresholdsSchema = z.object({
  /** Share of raw sales rows with every required field present (sale id, date, customer, product, quantity, price, state, channel). */
  completenessMin: z.number().min(0).max(1).default(0.95),
  /** Share of raw sales rows repeating a sale id already seen. */
  duplicatesMax: z.number().min(0).max(1).default(0.05),
  /** Share of raw rows whose state, channel or currency matches no known member. */
  referentialMax: z.number().min(0).max(1).default(0.02),
  /** Share of raw rows with a value out of range or unreadable (date, quantity, price, discount, status). */
  invalidValuesMax: z.number().min(0).max(1).default(0.05),
  /** Days between asOf and the newest sale. */
  freshnessMaxDays: z.number().min(0).default(7),
}).strict();
export type SalesThresholds = z.output<typeof salesThresholdsSchema>;

/** The anomaly check after each load (activities/sales-warehouse/alerts.ts). */
export const alertSettingsSchema = z.object({
  /** |robust z| above this is an anomaly (3.5: Iglewicz and Hoaglin's usual cut-off). */
  zThreshold: z.number().positive().default(3.5),
  /** How many previous same weekdays the last complete day is compared with. */
  weeks: z.number().int().min(3).max(52).default(8),
  /** A KPI with fewer past values than this (a young warehouse) is not checked. */
  minHistory: z.number().int().min(3).max(52).default(4),
}).strict().refine((a) => a.minHistory <= a.weeks, 'minHistory must not exceed weeks');
export type AlertSettings = z.output<typeof alertSettingsSchema>;

export interface Anomaly {
  day: string;
  kpi: string;
  value: number;
  median: number;
  mad: number;
  /** null: the history never varies and the value differs from it. */
  robustZ: number | null;
  direction: 'up' | 'down';
  history: number[];
}

export interface AlertsOutcome {
  /** The day checked: the last complete day before asOf. */
  day: string;
  checked: number;
  found: number;
  /** Anomalies POSTed to ALERT_WEBHOOK_URL by this run (earlier unsent ones included). */
  notified: number;
  /** The webhook's or the check's failure: recorded, never failing the run. */
  error?: string;
}

export const LOAD_STRATEGIES = ['incremental', 'full', 'merge'] as const;
export type SalesLoadStrategy = (typeof LOAD_STRATEGIES)[number];

/** What the sample data (`etl sample-data sales`) creates: the default sources of a run with input {}. */
export const DEFAULT_SOURCES: z.input<typeof sourceSchema>[] = [
  { kind: 'database', name: 'erp', query: 'SELECT * FROM erp_sales' },
  { kind: 'file', name: 'exports', location: 's3:sales/exports/' },
  { kind: 'file', name: 'leads', dataset: 'leads', location: 's3:sales/leads/' },
];

export const DEFAULT_CATEGORIES: Record<string, string> = {
  eletronicos: 'Eletrônicos', electronics: 'Eletrônicos', informatica: 'Informática', computers: 'Informática',
  moda: 'Moda', vestuario: 'Moda', roupas: 'Moda', fashion: 'Moda', casa: 'Casa', 'casa e decoracao': 'Casa', home: 'Casa',
  esporte: 'Esportes', esportes: 'Esportes', sports: 'Esportes', beleza: 'Beleza', beauty: 'Beleza',
  alimentos: 'Alimentos', mercado: 'Alimentos', food: 'Alimentos', brinquedos: 'Brinquedos', toys: 'Brinquedos',
};

export const DEFAULT_CHANNELS: Record<string, string> = {
  ecommerce: 'E-commerce', 'e-commerce': 'E-commerce', site: 'E-commerce', online: 'E-commerce', 'loja virtual': 'E-commerce',
  marketplace: 'Marketplace', loja: 'Loja física', 'loja fisica': 'Loja física', store: 'Loja física', varejo: 'Loja física',
  televendas: 'Televendas', telefone: 'Televendas', telesales: 'Televendas', app: 'App', aplicativo: 'App', mobile: 'App',
  b2b: 'B2B', atacado: 'B2B', distribuidor: 'B2B',
};

export const salesWarehouseInputSchema = z.object({
  sources: z.array(sourceSchema).min(1).default(DEFAULT_SOURCES.map((s) => sourceSchema.parse(s)))
    .refine((s) => new Set(s.map((x) => x.name)).size === s.length, 'source names must be unique'),
  loadStrategy: z.enum(LOAD_STRATEGIES).default('incremental'),
  /** merge only: sale dates from (inclusive) .. to (exclusive), YYYY-MM-DD; default every date in the data. */
  window: z.object({ from: z.string().regex(/^\d{4}-\d{2}-\d{2}$/), to: z.string().regex(/^\d{4}-\d{2}-\d{2}$/) }).strict().optional(),
  thresholds: salesThresholdsSchema.default(salesThresholdsSchema.parse({})),
  /** Normalised category (accent-free lower case key -> name); categories not listed keep their own name, capitalised. */
  categories: z.record(z.string(), z.string()).default(DEFAULT_CATEGORIES),
  /** Normalised channel; a channel not listed goes to quarantine (it is a dimension reference). */
  channels: z.record(z.string(), z.string()).default(DEFAULT_CHANNELS),
  /** BRL per unit of each currency (the run's fixed rates); a currency not listed goes to quarantine. */
  fxRatesToBrl: z.record(z.string().regex(/^[A-Z]{3}$/), z.number().positive()).default({ BRL: 1, USD: 5, EUR: 5.5 }),
  /** "Today" for freshness and future-date checks (YYYY-MM-DD, in timeZone); default the run's start date. */
  asOf: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).optional(),
  /** The business's time zone: the run's date (asOf's default, the raw zone's folder) is read on its clock. */
  timeZone: timeZoneSchema,
  alerts: alertSettingsSchema.default(alertSettingsSchema.parse({})),
}).strict();

export type SalesWarehouseInput = z.input<typeof salesWarehouseInputSchema>;
export type SalesWarehouseOptions = z.output<typeof salesWarehouseInputSchema>;


/** Staging tables of one run (schema etl_staging), named after the run. */
export function salesStaging(runId: string) {
  return {
    raw: (index: number) => `${stagingTable('sales', 'raw', runId)}_${index}`,
    typed: stagingTable('sales', 'typed', runId),
    clean: stagingTable('sales', 'clean', runId),
    leads: stagingTable('sales', 'leads', runId),
    /** Every table of the run, as a LIKE pattern on their names in STAGING_SCHEMA. */
    prefix: `sales_%_${runStagingId(runId)}%`,
  };
}

export interface StepMetric {
  step: string;
  rows: number;
  durationMs: number;
}

export interface SourceExtract {
  source: string;
  dataset: Dataset;
  table: string;
  rows: number;
  /** S3 keys of the raw copies, in the configured bucket. */
  rawKeys: string[];
  /** The locale its numbers are read in (the source's numberLocale, else what its files show); absent from older workers. */
  numberLocale?: NumberLocale;
  /** Incremental runs: rows not read again, because the source's recorded state vouches they did not change. */
  unchangedRows?: number;
  /** `changes`: only what changed since the last load was read; `all`: everything, and why (absent from older workers). */
  read?: { mode: 'changes' | 'all'; why?: string; filesSkipped?: number };
  durationMs: number;
}

export interface QualityCheck {
  name: string;
  value: number | null;
  threshold: string;
  passed: boolean;
  detail?: string;
}

export interface QualityReport {
  passed: boolean;
  failed: string[];
  checks: QualityCheck[];
}

export interface SourceSummary {
  extracted: number;
  quarantined: number;
  loaded: number;
  rawKeys: string[];
  /** What the run read of the source: only the changes, or all of it and why (absent in runs from before). */
  read?: SourceExtract['read'];
  /** Rows not read, because the source's recorded state vouches they did not change. */
  unchanged?: number;
}

/** One kind of row's counts: sales and leads are reported apart (a lead is not a sale). */
export interface DatasetSummary {
  rowsExtracted: number;
  rowsQuarantined: number;
  /** Sales: fact rows written; leads: leads inserted or updated. */
  rowsLoaded: number;
}

export interface SalesWarehouseResult {
  pipeline: 'salesWarehouse';
  loadStrategy: SalesLoadStrategy;
  sources: Record<string, SourceSummary>;
  rowsExtracted: number;
  /** Incremental runs: extracted sales rows older than the watermark, skipped (an earlier run loaded them). */
  rowsUnchanged: number;
  rowsQuarantined: number;
  duplicatesRemoved: number;
  rowsLoaded: number;
  leadsLoaded: number;
  /** The same counts per kind of row (the totals above mix both kinds; rowsLoaded counts sales only). */
  byDataset: Record<Dataset, DatasetSummary>;
  partitionsCreated: number;
  watermark: string | null;
  /** Customers whose RFM segment, scores or value tier changed in this load (absent in runs from before segmentation). */
  customersResegmented?: number;
  /** The anomaly check after the load (absent in runs from before the alerts). */
  alerts?: AlertsOutcome;
  quality: QualityReport;
  steps: StepMetric[];
}

export interface SalesWarehouseProgress {
  step: string;
  steps: StepMetric[];
}
