import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../lib/config/env';
import { pipelines } from '../lib/pipelines';
import { DEMO_TABLE } from '../lib/sample-data/incremental-sync';
import type { ReplayOptions } from './commands/replay';
import type { WatchOptions } from './commands/watch';
import { action } from './output';

// Each command's module is loaded when that command runs, so that `etl schedules list` does not load the workers,
// the stack and the sample data (require, not import(), as in lib/pipelines.ts).
/* eslint-disable @typescript-eslint/no-require-imports */
const command = {
  codecServer: () => require('./commands/codec-server') as typeof import('./commands/codec-server'),
  crm: () => require('./commands/crm') as typeof import('./commands/crm'),
  demo: () => require('./commands/demo') as typeof import('./commands/demo'),
  dev: () => require('./commands/dev') as typeof import('./commands/dev'),
  health: () => require('./commands/health') as typeof import('./commands/health'),
  replay: () => require('./commands/replay') as typeof import('./commands/replay'),
  rerun: () => require('./commands/rerun') as typeof import('./commands/rerun'),
  run: () => require('./commands/run') as typeof import('./commands/run'),
  sampleData: () => require('./commands/sample-data') as typeof import('./commands/sample-data'),
  schedules: () => require('./commands/schedules') as typeof import('./commands/schedules'),
  serve: () => require('./commands/serve') as typeof import('./commands/serve'),
  watch: () => require('./commands/watch') as typeof import('./commands/watch'),
  worker: () => require('./commands/worker') as typeof import('./commands/worker'),
};
/* eslint-enable @typescript-eslint/no-require-imports */

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number above 0');
  return n;
};

const program = new Command('etl')
  .description('Durable ETL pipelines on Temporal')
  .showHelpAfterError();

program.command('dev')
  .description('start the embedded stack (Temporal + Web UI, Postgres, S3, SFTP), the workers and the schedules; a server that dies is restarted; Ctrl-C stops it')
  .option('--no-workers', 'start no workers (run them apart with `etl worker`)')
  .action(action((options: { workers: boolean }) => command.dev().dev(loadConfig(), { workers: options.workers })));

program.command('demo')
  .description('start the embedded stack, load sample data, run every pipeline, print a summary, stop')
  .action(action(() => command.demo().demo(loadConfig())));

program.command('worker')
  .description('run only the workers, against the configured Temporal cluster and databases')
  .action(action(() => command.worker().worker(loadConfig())));

program.command('run')
  .description(`start a pipeline and wait for its result (pipelines: ${pipelines.map((p) => p.name).join(', ')})`)
  .argument('<pipeline>', 'pipeline name, e.g. incremental-sync')
  .option('--input <json>', 'workflow input as JSON, or @file.json', undefined)
  .option('--id <workflowId>', 'workflow id (default: <pipeline>-manual-<time>)')
  .option('--no-wait', 'print the ids and return without waiting for the result')
  .action(action((name: string, options: { input?: string; id?: string; wait: boolean }) => command.run().runPipeline(loadConfig(), name, options)));

program.command('health')
  .description('servers, and per pipeline: workers and backlog, schedule, last success against the schedule, failures in 24 h; '
    + 'exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN')
  .option('--json', 'machine-readable output')
  .action(action((options: { json?: boolean }) => command.health().health(() => loadConfig(), options)));

const schedules = program.command('schedules').description('the pipelines\' Temporal Schedules, defined in schedules/');
schedules.command('apply')
  .description('create or update every schedule to its definition; what an operator changed and the code did not is kept, a conflict is reported (exit 1)')
  .option('--force', 'on a conflict (a field both the code and an operator changed), take the code\'s side')
  .action(action((options: { force?: boolean }) => command.schedules().applySchedulesCommand(loadConfig(), options)));
schedules.command('diff')
  .description('what apply would do, field by field: code now, code last applied, server now (exit 1 on a conflict)')
  .action(action(() => command.schedules().diffSchedules(loadConfig())));
schedules.command('list')
  .description('every schedule: paused or active (with its note), when it runs, its next runs and its last run')
  .action(action(() => command.schedules().listSchedules(loadConfig())));
schedules.command('pause')
  .description('stop a schedule starting runs until it is unpaused')
  .argument('<schedule-id>')
  .option('--note <text>', 'why, shown in the Web UI and in list')
  .action(action((id: string, options: { note?: string }) => command.schedules().pauseSchedule(loadConfig(), id, options.note, true)));
schedules.command('unpause')
  .description('let a paused schedule start runs again')
  .argument('<schedule-id>')
  .option('--note <text>', 'why, shown in the Web UI and in list')
  .action(action((id: string, options: { note?: string }) => command.schedules().pauseSchedule(loadConfig(), id, options.note, false)));
schedules.command('trigger')
  .description('start one run of a schedule now, with its input')
  .argument('<schedule-id>')
  .action(action((id: string) => command.schedules().triggerSchedule(loadConfig(), id)));
schedules.command('backfill')
  .description('run the slots a schedule would have run between two times (wall-clock in ETL_TIMEZONE unless an offset is given)')
  .argument('<schedule-id>')
  .requiredOption('--from <time>', 'e.g. 2026-11-20 or "2026-11-20 08:00"')
  .requiredOption('--to <time>', 'e.g. 2026-11-21')
  .action(action((id: string, options: { from: string; to: string }) => command.schedules().backfillSchedule(loadConfig(), id, options)));
schedules.command('delete')
  .description('delete a schedule (pause keeps it; apply creates a defined one again)')
  .argument('<schedule-id>')
  .option('--yes', 'confirm')
  .action(action((id: string, options: { yes?: boolean }) => command.schedules().deleteSchedule(loadConfig(), id, options)));

const crm = program.command('crm').description('crm-features\' backups of ml_features.user_features (one is taken before every load)');
crm.command('backups')
  .description('list the backups, newest first')
  .action(action(() => command.crm().listCrmBackups(loadConfig())));
crm.command('restore')
  .description('put a backup back in place of ml_features.user_features, through a crm-features run (the table as it was is backed up first)')
  .requiredOption('--backup <name>', 'e.g. user_features_backup_20260316120000123 (see `etl crm backups`, or a run\'s backupTable)')
  .option('--id <workflowId>', 'workflow id (default: crm-features-manual-<time>)')
  .option('--no-wait', 'print the ids and return without waiting for the result')
  .action(action((options: { backup: string; id?: string; wait: boolean }) => command.crm().restoreCrmBackup(loadConfig(), options)));

const watch = program.command('watch').description('the salesWarehouse lake watcher: a sales run for each new file under an S3 prefix');
watch.command('start')
  .description('start watching a prefix of the lake bucket (one watcher per prefix)')
  .requiredOption('--prefix <prefix>', 'key prefix in the configured bucket, e.g. sales/incoming/')
  .option('--poll-seconds <n>', 'seconds between two listings (default 60)', positiveInt)
  .option('--input <json>', 'more watcher input as JSON or @file.json: dataset, maxFilesPerPoll, run (the runs\' options)')
  .action(action((options: WatchOptions) => command.watch().watchStart(loadConfig(), options)));
watch.command('stop')
  .description('stop the watcher of a prefix (runs it started go on)')
  .requiredOption('--prefix <prefix>', 'the prefix it watches')
  .action(action((options: { prefix: string }) => command.watch().watchStop(loadConfig(), options)));
watch.command('status')
  .description('the watcher of a prefix: status, listings, files started, the last ten')
  .requiredOption('--prefix <prefix>', 'the prefix it watches')
  .action(action((options: { prefix: string }) => command.watch().watchStatus(loadConfig(), options)));

program.command('replay')
  .description('replay workflow histories against the current workflow code (determinism check)')
  .option('--workflow-id <id>', 'fetch this workflow\'s history from the server')
  .option('--history <file>', 'a history JSON file (temporal workflow show -o json)')
  .option('--all', 'every run closed in the last --since, of every pipeline (or of --type)')
  .option('--since <duration>', 'with --all: how far back, e.g. 24h, 7d', '24h')
  .option('--type <workflowType>', 'with --all: only this workflow type, e.g. mailingCampaigns')
  .action(action((options: ReplayOptions) => command.replay().replay(loadConfig(), options)));

program.command('rerun')
  .description('start a finished (e.g. failed) run again with the same input, as <id>-rerun-<n>; committed work is not redone')
  .argument('<workflow-id>')
  .option('--run-id <id>', 'a run other than the latest of that workflow id')
  .option('--no-wait', 'print the new ids and return without waiting for the result')
  .action(action((id: string, options: { runId?: string; wait: boolean }) => command.rerun().rerun(loadConfig(), id, options)));

program.command('codec-server')
  .description('serve the Web UI\'s codec endpoint (POST /encode, /decode) with the configured payload keys, so people with access see decoded payloads')
  .option('--port <port>', 'port to listen on (default ETL_CODEC_PORT, 8234)', positiveInt)
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--origin <url...>', 'Web UI origins allowed to call it (default: TEMPORAL_WEB_UI, or the embedded UI)')
  .action(action((options: { port?: number; host: string; origin?: string[] }) => command.codecServer().codecServer(loadConfig(), options)));

const sample = program.command('sample-data').description('generate synthetic data for the demo and benchmarks');
sample.command('conversations')
  .description('conversations on the source database, for incremental-sync')
  .option('--count <n>', 'how many rows', positiveInt, 100_000)
  .option('--table <name>', 'table name', DEMO_TABLE)
  .action(action((options: { count: number; table: string }) => command.sampleData().sampleConversations(loadConfig(), { rows: options.count, table: options.table })));

sample.command('customers')
  .description('a synthetic Brazilian customer base (CSV with ;), for marketing-enrichment')
  .option('--count <n>', 'how many customers', positiveInt, 1000)
  .option('--seed <n>', 'the same seed always gives the same customers', positiveInt, 42)
  .option('--out <file>', 'where to write it', 'customers.csv')
  .option('--no-bad-rows', 'leave out the few defective rows (no id, no name, unknown interest) that real bases have')
  .action(action(async (options: { count: number; seed: number; out: string; badRows: boolean }) => command.sampleData().sampleCustomers(options)));

sample.command('partners')
  .description('a partner customer base on the source database (partner_customers), and the sample campaigns\' SFTP folders, for mailing-campaigns')
  .option('--count <n>', 'how many customers', positiveInt, 100_000)
  .option('--seed <n>', 'the same seed gives the same customers', positiveInt, 42)
  .action(action((options: { count: number; seed: number }) => command.sampleData().samplePartners(loadConfig(), { rows: options.count, seed: options.seed })));

sample.command('crm')
  .description('betting transactions of known user archetypes for crm-features: half in tbl_transactions on the source, half in lake files (Parquet, CSV, JSON lines) in S3')
  .option('--users <n>', 'how many users', positiveInt, 1000)
  .option('--transactions <n>', 'how many transactions', positiveInt, 50_000)
  .option('--seed <n>', 'the same seed gives the same transactions (relative to now)', positiveInt, 42)
  .option('--prefix <prefix>', 'lake prefix in the configured bucket', 'lake/transactions/')
  .action(action((options: { users: number; transactions: number; seed: number; prefix: string }) => command.sampleData().sampleCrm(loadConfig(), options)));

sample.command('sales')
  .description('sales for sales-warehouse: erp_sales on the source database, a ; CSV export and an XLSX under s3:sales/exports/, leads under s3:sales/leads/')
  .option('--rows <n>', 'how many sales', positiveInt, 300_000)
  .action(action((options: { rows: number }) => command.sampleData().sampleSales(loadConfig(), options)));

program.command('serve')
  .description('a read-only HTTP endpoint with the sales KPI views as JSON, for dashboards (Tableau, Power BI)')
  .option('--port <n>', 'port', positiveInt, 8787)
  .option('--host <address>', 'address to listen on', '127.0.0.1')
  .action(action((options: { port: number; host: string }) => command.serve().serve(loadConfig(), options)));

program.parseAsync().catch((error: Error) => {
  process.stderr.write(`etl: ${error.message}\n`);
  process.exitCode = 1;
});
