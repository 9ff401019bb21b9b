import type { EtlConfig } from '../../lib/config/env';
import { createPool } from '../../lib/io/postgres';
import type { SyncResult } from '../../lib/contracts/incremental-sync';
import { loadCampaigns } from '../../activities/mailing-campaigns/load-campaigns';
import type { MailingResult } from '../../lib/contracts/mailing-campaigns';
import { createCampaignFolders } from '../../activities/mailing-campaigns/sftp-folders';
import { DEMO_TABLE, seedConversations, touchConversations } from '../../lib/sample-data/incremental-sync';
import type { CrmFeaturesResult } from '../../lib/contracts/crm-features';
import type { EnrichmentResult } from '../../lib/contracts/marketing-enrichment';
import { crmSampleAsOf, generateCrmTransactions, writeCrmSample } from '../../lib/sample-data/crm-features';
import { createS3Client } from '../../lib/io/s3';
import { PARTNERS_TABLE, seedPartnerCustomers } from '../../lib/sample-data/mailing-campaigns';
import { findPipeline, inputWithConfiguration } from '../../lib/pipelines';
import { DEFAULT_SOURCES, type SalesWarehouseInput, type SalesWarehouseResult } from '../../lib/contracts/sales-warehouse';
import { writeSalesSample } from '../../lib/sample-data/sales-warehouse';
import { startSalesApi, type SalesApi } from '../../lib/sample-data/sales-warehouse-api';
import { cliTrigger, connectClient, webUiLink } from '../../lib/temporal/connection';
import { printJson, say, table } from '../output';
import { recordSampleData } from '../../lib/sample-data/marker';
import { addresses, startEverything } from './dev';
import { localDateTime } from '../../lib/workflow/zoned-time';

interface DemoStep {
  label: string;
  pipeline: string;
  input: unknown;
  /** Prepares the data this step shows off. */
  before?: () => Promise<string>;
  /** One line on what the run did, from its result. */
  summarize: (result: never) => string;
}

const syncSummary = (result: SyncResult) =>
  `${result.rowsExtracted} read, ${result.rowsInserted} inserted, ${result.rowsUpdated} updated, ${result.rowsQuarantined} quarantined`;
const mailingSummary = (result: MailingResult) =>
  `slot ${result.slotLabel.slice(11, 16)}: ${result.campaigns.map((c) => `${c.campaign} ${c.status} ${c.rows}`).join(', ')}`;

interface DemoOutcome {
  pipeline: string;
  outcome: string;
  rows: string;
  seconds: number;
  url?: string;
}

/** `etl demo`: the embedded stack, sample data, every pipeline run end to end, a summary; then everything stops. */
export async function demo(config: EtlConfig): Promise<number> {
  const running = await startEverything(config);
  const { settings } = running.stack;
  const source = createPool(settings.postgres.sourceAdminUrl);
  const target = createPool(settings.postgres.databaseUrl);
  const client = await connectClient(settings, { triggeredBy: cliTrigger() });
  let salesApi: SalesApi | undefined;
  const salesInput: SalesWarehouseInput = {};
  try {
    say(`\n${addresses(settings)}\n`);
    const seeded = await seedConversations(source, target, 200_000);
    say(`sample data: ${seeded} new conversations on the source (${DEMO_TABLE})`);
    const steps: DemoStep[] = [
      { label: 'incremental-sync', pipeline: 'incremental-sync', input: {}, summarize: syncSummary },
      {
        label: 'incremental-sync (after changes)',
        pipeline: 'incremental-sync',
        input: {},
        before: async () => `changed ${await touchConversations(source, 2_000, 'now()', 97)} conversations on the source`,
        summarize: syncSummary,
      },
      {
        label: 'mailing-campaigns',
        pipeline: 'mailing-campaigns',
        // Every sample campaign, now, whatever the hour: the schedule delivers only those active in each slot.
        input: { campaigns: loadCampaigns(settings.mailing.campaignsDir).campaigns.map((c) => c.name) },
        before: async () => {
          const customers = await seedPartnerCustomers(source, 100_000);
          const folders = await createCampaignFolders(settings);
          return `sample data: ${customers} new customers on the source (${PARTNERS_TABLE}); dialer folders ${folders.join(', ')}`;
        },
        summarize: mailingSummary,
      },
      { label: 'marketing-enrichment', pipeline: 'marketing-enrichment', input: {}, summarize: enrichmentSummary },
      {
        label: 'crm-features',
        pipeline: 'crm-features',
        input: {},
        before: async () => {
          const s3 = createS3Client(settings.s3);
          try {
            const asOf = crmSampleAsOf(config.ETL_TIMEZONE);
            const rows = generateCrmTransactions({ users: 2_000, transactions: 100_000, seed: 42, asOf });
            const written = await writeCrmSample({ source, s3, bucket: settings.s3.bucket }, rows);
            return `sample data: ${written.sourceRows} new transactions in tbl_transactions, ${written.lakeFiles.length} lake files (Parquet, CSV, JSON lines) under s3://${settings.s3.bucket}/lake/transactions/`;
          } finally {
            s3.destroy();
          }
        },
        summarize: crmSummary,
      },
      {
        label: 'sales-warehouse',
        pipeline: 'sales-warehouse',
        input: salesInput,
        before: async () => {
          const s3 = createS3Client(settings.s3);
          try {
            const asOf = localDateTime(new Date(), config.ETL_TIMEZONE).slice(0, 10);
            const sample = await writeSalesSample({ sourceAdmin: source, target, s3, bucket: settings.s3.bucket }, { rows: 300_000, asOf });
            // The CRM's REST API: a local sample server in this process, paginated by cursor.
            salesApi = await startSalesApi(sample.apiItems);
            Object.assign(salesInput, { loadStrategy: 'full', sources: [...DEFAULT_SOURCES,
              { kind: 'rest', name: 'crm-api', url: salesApi.url, pagination: 'cursor', pageSize: 5000 }] });
            return `sample data: ${sample.erpRows} sales in erp_sales, ${sample.csvRows + sample.xlsxRows} in CSV/XLSX under s3://${settings.s3.bucket}/sales/exports/, `
              + `${sample.leads} leads, ${sample.apiItems.length} behind the sample REST API ${salesApi.url}`;
          } finally {
            s3.destroy();
          }
        },
        summarize: salesSummary,
      },
    ];
    const outcomes: DemoOutcome[] = [];
    for (const step of steps) {
      if (step.before) say(await step.before());
      const pipeline = findPipeline(step.pipeline);
      // Its sample data is on this stack now: the next `etl dev` finds its schedule's default input and unpauses it.
      if (pipeline.schedule(config).needsInput) recordSampleData(config.ETL_DATA_DIR, pipeline.name);
      const workflowId = `demo-${step.pipeline}-${Date.now()}`;
      const started = Date.now();
      const handle = await client.workflow.start(pipeline.workflowType, { taskQueue: pipeline.taskQueue, workflowId, args: [inputWithConfiguration(pipeline, config, step.input)] });
      const url = webUiLink(settings, workflowId, handle.firstExecutionRunId);
      say(`running ${step.label}: ${url ?? workflowId}`);
      const outcome = await handle.result().then(
        (result) => ({ outcome: 'success', rows: step.summarize(result as never) }),
        (error: Error) => ({ outcome: 'FAILED', rows: (error.cause as Error | undefined)?.message ?? error.message }),
      );
      outcomes.push({ pipeline: step.label, ...outcome, seconds: (Date.now() - started) / 1000, url });
    }
    say(`\n${table([['pipeline', 'outcome', 'rows', 'duration', 'Web UI'],
      ...outcomes.map((o) => [o.pipeline, o.outcome, o.rows, `${o.seconds.toFixed(1)} s`, o.url ?? ''])])}\n`);
    say('The Web UI links work while `npx etl dev` runs (the history is kept under .data/).');
    if (settings.codec.keys) {
      say(`Payloads are encrypted (key ${settings.codec.keys.currentKeyId}${settings.codec.keyFile ? ` in ${settings.codec.keyFile}` : ''}); `
        + 'the Web UI shows them decoded through the codec server that `npx etl dev` runs.');
    }
    printJson({ demo: outcomes });
    return outcomes.every((o) => o.outcome === 'success') ? 0 : 1;
  } finally {
    await salesApi?.close();
    await client.connection.close();
    await Promise.all([source.end(), target.end()]);
    await running.stop();
  }
}

const enrichmentSummary = (result: EnrichmentResult) =>
  `${result.customersRead} customers, ${result.enriched} new messages${result.alreadyEnriched ? ` (${result.alreadyEnriched} already had one)` : ''} (${result.provider}${result.provider === 'offline' ? ': no AI called' : `, ${result.requests} requests`}), `
  + `${result.customersQuarantined} quarantined, ${result.failed} failed; ${result.files.find((f) => f.endsWith('.xlsx')) ?? ''}`;

const crmSummary = (result: CrmFeaturesResult) =>
  `${result.recordsExtracted} transactions (${Object.keys(result.bySource).length} sources), ${result.recordsQuarantined} quarantined, `
  + `${result.usersTransformed} users' features, quality ${result.quality?.grade} (${result.qualityScore}), ${result.recordsLoaded} loaded (${result.loadStrategy})`;

const salesSummary = (result: SalesWarehouseResult) =>
  `${Object.keys(result.sources).length} sources; ${(['sales', 'leads'] as const).map((kind) => {
    const counts = result.byDataset?.[kind];
    return counts ? `${kind}: ${counts.rowsExtracted} extracted, ${counts.rowsQuarantined} quarantined, ${counts.rowsLoaded} loaded` : '';
  }).join('; ')}; ${result.duplicatesRemoved} duplicates (${result.loadStrategy}); KPIs: npx etl serve`;
