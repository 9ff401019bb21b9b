import type { EtlConfig } from '../../lib/config/env';
import { createPool } from '../../lib/io/postgres';
import { DEMO_TABLE, seedConversations } from '../../lib/sample-data/incremental-sync';
import { recordSampleData } from '../../lib/sample-data/marker';
import { createCampaignFolders } from '../../activities/mailing-campaigns/sftp-folders';
import { PARTNERS_TABLE, seedPartnerCustomers } from '../../lib/sample-data/mailing-campaigns';
import { resolveSettings } from '../../lib/config/settings';
import { generateCustomers, writeCustomersCsv } from '../../lib/sample-data/marketing-enrichment';
import { crmSampleAsOf, generateCrmTransactions, writeCrmSample } from '../../lib/sample-data/crm-features';
import { createS3Client } from '../../lib/io/s3';
import { writeSalesSample } from '../../lib/sample-data/sales-warehouse';
import { migrate } from '../../lib/io/migrate';
import { printJson, say } from '../output';
import { localDateTime } from '../../lib/workflow/zoned-time';

/** Fills the source database with synthetic conversations (and creates the demo's typed target table). */
export async function sampleConversations(config: EtlConfig, options: { rows: number; table: string }): Promise<number> {
  const settings = resolveSettings(config);
  const source = createPool(settings.postgres.sourceAdminUrl);
  const target = createPool(settings.postgres.databaseUrl);
  try {
    const inserted = await seedConversations(source, target, options.rows, options.table);
    say(`${options.table}: ${inserted} new rows on the source (rows that already existed were kept)`);
    // The schedule's default input reads the demo table: with it there, `etl schedules apply` leaves the schedule active.
    if (options.table === DEMO_TABLE) recordSampleData(config.ETL_DATA_DIR, 'incremental-sync');
    printJson({ table: options.table, inserted });
    return 0;
  } finally {
    await Promise.all([source.end(), target.end()]);
  }
}

/** Writes a synthetic Brazilian customer base for marketing-enrichment (`;` CSV with BOM, same seed same file). */
export function sampleCustomers(options: { count: number; seed: number; out: string; badRows: boolean }): number {
  const rows = generateCustomers({ count: options.count, seed: options.seed, badRowRate: options.badRows ? 0.005 : 0 });
  writeCustomersCsv(options.out, rows);
  say(`${options.out}: ${rows.length} customers (seed ${options.seed})`);
  printJson({ file: options.out, customers: rows.length, seed: options.seed });
  return 0;
}

/** Fills the source database with a synthetic partner customer base, and creates the sample campaigns' SFTP folders. */
export async function samplePartners(config: EtlConfig, options: { rows: number; seed: number }): Promise<number> {
  const settings = resolveSettings(config);
  const source = createPool(settings.postgres.sourceAdminUrl);
  try {
    const inserted = await seedPartnerCustomers(source, options.rows, options.seed);
    say(`${PARTNERS_TABLE}: ${inserted} new customers on the source, seed ${options.seed} (rows that already existed were kept)`);
    const folders = await createCampaignFolders(settings);
    recordSampleData(config.ETL_DATA_DIR, 'mailing-campaigns');
    say(`SFTP folders of the campaigns in ${settings.mailing.campaignsDir}: ${folders.join(', ')}`);
    printJson({ table: PARTNERS_TABLE, inserted, seed: options.seed, folders });
    return 0;
  } finally {
    await source.end();
  }
}

/** Betting transactions for crm-features: half in tbl_transactions on the source, half in lake files in S3. */
export async function sampleCrm(config: EtlConfig, options: { users: number; transactions: number; seed: number; prefix: string }): Promise<number> {
  const settings = resolveSettings(config);
  const source = createPool(settings.postgres.sourceAdminUrl);
  const s3 = createS3Client(settings.s3);
  try {
    const asOf = crmSampleAsOf(config.ETL_TIMEZONE);
    const rows = generateCrmTransactions({ users: options.users, transactions: options.transactions, seed: options.seed, asOf });
    const written = await writeCrmSample({ source, s3, bucket: settings.s3.bucket }, rows, { prefix: options.prefix });
    if (options.prefix === 'lake/transactions/') recordSampleData(config.ETL_DATA_DIR, 'crm-features');
    say(`tbl_transactions: ${written.sourceRows} new rows on the source; lake: ${written.lakeFiles.map((f) => `s3://${settings.s3.bucket}/${f.key} (${f.rows})`).join(', ')}`);
    printJson({ table: 'tbl_transactions', ...written, seed: options.seed });
    return 0;
  } finally {
    s3.destroy();
    await source.end();
  }
}

/**
 * Sales for sales-warehouse over the default sources: erp_sales on the source database, a `;` CSV export and an XLSX
 * under s3:sales/exports/, leads under s3:sales/leads/ (dates in the year before today, in ETL_TIMEZONE).
 */
export async function sampleSales(config: EtlConfig, options: { rows: number }): Promise<number> {
  const settings = resolveSettings(config);
  const sourceAdmin = createPool(settings.postgres.sourceAdminUrl);
  const target = createPool(settings.postgres.databaseUrl);
  const s3 = createS3Client(settings.s3);
  try {
    await migrate(target);
    const asOf = localDateTime(new Date(), config.ETL_TIMEZONE).slice(0, 10);
    const sample = await writeSalesSample({ sourceAdmin, target, s3, bucket: settings.s3.bucket }, { rows: options.rows, asOf });
    recordSampleData(config.ETL_DATA_DIR, 'sales-warehouse');
    say(`erp_sales: ${sample.erpRows} rows on the source; s3://${settings.s3.bucket}/sales/exports/ecommerce.csv (${sample.csvRows}), lojas.xlsx (${sample.xlsxRows}); `
      + `s3://${settings.s3.bucket}/sales/leads/leads.csv (${sample.leads}); the demo serves the other ${sample.apiItems.length} from its sample REST API`);
    printJson({ erpRows: sample.erpRows, csvRows: sample.csvRows, xlsxRows: sample.xlsxRows, leads: sample.leads, apiRows: sample.apiItems.length });
    return 0;
  } finally {
    s3.destroy();
    await Promise.all([sourceAdmin.end(), target.end()]);
  }
}
