// The pipelines this product runs: how the CLI names them and where their workers listen.
export interface PipelineInfo {
  /** The kebab-case name the CLI takes. */
  name: string;
  workflowType: string;
  taskQueue: string;
  description: string;
}

export const pipelines: PipelineInfo[] = [
  {
    name: 'incremental-sync',
    workflowType: 'incrementalSync',
    taskQueue: 'etl-incremental-sync',
    description: 'remote Postgres table -> local Postgres by updated_at watermark, batch UPSERT, etl_control',
  },
  {
    name: 'mailing-campaigns',
    workflowType: 'mailingCampaigns',
    taskQueue: 'etl-mailing-campaigns',
    description: 'hourly, per campaign: SQL on Postgres -> CSV in the dialer\'s layout -> the campaign\'s SFTP folder, atomically, once',
  },
  {
    name: 'marketing-enrichment',
    workflowType: 'marketingEnrichment',
    taskQueue: 'etl-marketing-enrichment',
    description: 'customers file -> Gemini writes a short pt-BR message per customer -> marketing_messages in Postgres -> XLSX and ; CSV',
  },
  {
    name: 'crm-features',
    workflowType: 'crmFeatures',
    taskQueue: 'etl-crm-features',
    description: 'S3 lake (Parquet, CSV, JSON) + tbl_transactions -> clean -> per-user ML features -> 11 quality checks, A-F -> ml_features.user_features with backup',
  },
  {
    name: 'sales-warehouse',
    workflowType: 'salesWarehouse',
    taskQueue: 'etl-sales-warehouse',
    description: 'REST APIs + CSV/XLSX files + databases -> raw copy in S3 -> clean, quality gate -> sales_dw star schema (monthly partitions) -> KPI views',
  },
];

export function findPipeline(name: string): PipelineInfo {
  const found = pipelines.find((p) => p.name === name || p.workflowType === name);
  if (!found) throw new Error(`unknown pipeline "${name}"; known pipelines: ${pipelines.map((p) => p.name).join(', ')}`);
  return found;
}
