import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../lib/config';
import { pipelines } from '../lib/pipelines';
import { codecServer } from './commands/codec-server';
import { demo } from './commands/demo';
import { dev } from './commands/dev';
import { health } from './commands/health';
import { replay } from './commands/replay';
import { runPipeline } from './commands/run';
import { DEMO_TABLE } from '../lib/sample-data/conversations';
import { sampleConversations, sampleCrm, sampleCustomers, samplePartners } from './commands/sample-data';
import { applySchedulesCommand } from './commands/schedules';
import { worker } from './commands/worker';
import { action } from './output';

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number above 0');
  return n;
};

const program = new Command('etl')
  .description('Durable ETL pipelines on Temporal')
  .showHelpAfterError();

program.command('dev')
  .description('start the embedded stack (Temporal + Web UI, Postgres, S3, SFTP), the workers and the schedules; Ctrl-C stops it')
  .action(action(() => dev(loadConfig())));

program.command('demo')
  .description('start the embedded stack, load sample data, run every pipeline, print a summary, stop')
  .action(action(() => demo(loadConfig())));

program.command('worker')
  .description('run only the workers, against the configured Temporal cluster and databases')
  .action(action(() => worker(loadConfig())));

program.command('run')
  .description(`start a pipeline and wait for its result (pipelines: ${pipelines.map((p) => p.name).join(', ')})`)
  .argument('<pipeline>', 'pipeline name, e.g. incremental-sync')
  .option('--input <json>', 'workflow input as JSON, or @file.json', undefined)
  .option('--id <workflowId>', 'workflow id (default: <pipeline>-manual-<time>)')
  .option('--no-wait', 'print the ids and return without waiting for the result')
  .action(action((name: string, options: { input?: string; id?: string; wait: boolean }) => runPipeline(loadConfig(), name, options)));

program.command('health')
  .description('check Temporal, workers, databases, storage, schedules and the last run of each pipeline')
  .option('--json', 'machine-readable output')
  .action(action((options: { json?: boolean }) => health(loadConfig(), options)));

const schedules = program.command('schedules').description('the pipelines\' Temporal Schedules, defined in schedules/');
schedules.command('apply')
  .description('create or update every schedule to match its definition')
  .action(action(() => applySchedulesCommand(loadConfig())));

program.command('replay')
  .description('replay a workflow history against the current workflow code (determinism check)')
  .option('--workflow-id <id>', 'fetch this workflow\'s history from the server')
  .option('--history <file>', 'a history JSON file (temporal workflow show -o json)')
  .action(action((options: { workflowId?: string; history?: string }) => replay(loadConfig(), options)));

program.command('codec-server')
  .description('serve the Web UI\'s codec endpoint (POST /encode, /decode) with the configured payload keys, so people with access see decoded payloads')
  .option('--port <port>', 'port to listen on (default ETL_CODEC_PORT, 8234)', positiveInt)
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--origin <url...>', 'Web UI origins allowed to call it (default: TEMPORAL_WEB_UI, or the embedded UI)')
  .action(action((options: { port?: number; host: string; origin?: string[] }) => codecServer(loadConfig(), options)));

const sample = program.command('sample-data').description('generate synthetic data for the demo and benchmarks');
sample.command('conversations')
  .description('conversations on the source database, for incremental-sync')
  .option('--count <n>', 'how many rows', positiveInt, 100_000)
  .option('--table <name>', 'table name', DEMO_TABLE)
  .action(action((options: { count: number; table: string }) => sampleConversations(loadConfig(), { rows: options.count, table: options.table })));

sample.command('customers')
  .description('a synthetic Brazilian customer base (CSV with ;), for marketing-enrichment')
  .option('--count <n>', 'how many customers', positiveInt, 1000)
  .option('--seed <n>', 'the same seed always gives the same customers', positiveInt, 42)
  .option('--out <file>', 'where to write it', 'customers.csv')
  .option('--no-bad-rows', 'leave out the few defective rows (no id, no name, unknown interest) that real bases have')
  .action(action(async (options: { count: number; seed: number; out: string; badRows: boolean }) => sampleCustomers(options)));

sample.command('partners')
  .description('a partner customer base on the source database (partner_customers), and the sample campaigns\' SFTP folders, for mailing-campaigns')
  .option('--count <n>', 'how many customers', positiveInt, 100_000)
  .option('--seed <n>', 'the same seed gives the same customers', positiveInt, 42)
  .action(action((options: { count: number; seed: number }) => samplePartners(loadConfig(), { rows: options.count, seed: options.seed })));

sample.command('crm')
  .description('betting transactions of known user archetypes for crm-features: half in tbl_transactions on the source, half in lake files (Parquet, CSV, JSON lines) in S3')
  .option('--users <n>', 'how many users', positiveInt, 1000)
  .option('--transactions <n>', 'how many transactions', positiveInt, 50_000)
  .option('--seed <n>', 'the same seed gives the same transactions (relative to now)', positiveInt, 42)
  .option('--prefix <prefix>', 'lake prefix in the configured bucket', 'lake/transactions/')
  .action(action((options: { users: number; transactions: number; seed: number; prefix: string }) => sampleCrm(loadConfig(), options)));

program.parseAsync().catch((error: Error) => {
  process.stderr.write(`etl: ${error.message}\n`);
  process.exitCode = 1;
});
