// npm run bench:mailing — 10 campaigns x 100,000 rows, from the queries to verified files on the SFTP server,
// through the mailingCampaigns workflow on the embedded stack; measured in the same run against a raw COPY of the
// same rows into /dev/null and a plain sequential script (export a file, upload it, next campaign).
// Ends with one JSON line of the figures.
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { to as copyTo } from 'pg-copy-streams';
import { campaignCopySql } from '../activities/mailing-campaigns/campaign-sql';
import { connectSftp } from '../lib/io/sftp';
import { createPool } from '../lib/io/postgres';
import { installWorkerLogging } from '../lib/temporal/logging';
import { loadCampaigns } from '../activities/mailing-campaigns/load-campaigns';
import { migrate } from '../lib/io/migrate';
import type { MailingResult } from '../lib/contracts/mailing-campaigns';
import { generatePartnerCustomers, partnersTableSql } from '../lib/sample-data/mailing-campaigns';
import { connectClient } from '../lib/temporal/connection';
import { writeCampaigns } from '../test/helpers/mailing-campaigns-files';
import { startWorkers } from '../workers';
import { bundleWorkflows, startBenchStack } from './bench-stack';
import { activitySeconds, benchRounds, median, postmasterPid, printFigures, sampleMemory, seconds } from './harness';

const CAMPAIGNS = Number(process.env.BENCH_CAMPAIGNS ?? 10);
const ROWS_PER_CAMPAIGN = Number(process.env.BENCH_ROWS ?? 100_000);
const ROUNDS = benchRounds();
const PARALLELISM = Number(process.env.BENCH_PARALLELISM ?? 4);
const TABLE = 'public.bench_partner_customers';


// A dialer layout like the sample card-collections campaign: phones, name, CPF, money, date, city, UF.
const layout = [
  { source: 'phone', header: 'TELEFONE', format: 'phone' },
  { source: 'phone_alt', header: 'TELEFONE2', format: 'phone' },
  { source: 'full_name', header: 'NOME', maxLength: 60 },
  { source: 'cpf', header: 'CPF' },
  { source: 'debt_amount', header: 'VALOR', format: 'number', decimals: 2 },
  { source: 'due_date', header: 'VENCIMENTO', format: 'date', pattern: 'dd/MM/yyyy' },
  { source: 'city', header: 'CIDADE' },
  { source: 'uf', header: 'UF' },
];

async function main() {
  installWorkerLogging('WARN');
  const stack = await startBenchStack('bench-mailing');
  const { settings } = stack;
  const admin = createPool(settings.postgres.sourceAdminUrl, 2);
  const reader = createPool(settings.postgres.sourceDatabaseUrl, CAMPAIGNS);
  const target = createPool(settings.postgres.databaseUrl, 2);
  const scratch = mkdtempSync(path.join(settings.dataDir, 'script-'));
  try {
    const total = CAMPAIGNS * ROWS_PER_CAMPAIGN;
    await migrate(target);
    await admin.query(`DROP TABLE IF EXISTS ${TABLE}; ${partnersTableSql(TABLE)}`);
    const t = process.hrtime.bigint();
    await generatePartnerCustomers(admin, { table: TABLE, count: total, seed: 42 });
    await admin.query(`VACUUM ANALYZE ${TABLE}`);
    console.error(`# generated ${total} customers in ${seconds(t).toFixed(1)} s`);

    const names = Array.from({ length: CAMPAIGNS }, (_, i) => `bench_${String(i).padStart(2, '0')}`);
    const campaignsDir = writeCampaigns(names.map((name, i) => ({
      name, sftpFolder: `/bench/${name}`, columns: layout,
      sql: `SELECT phone, phone_alt, full_name, cpf, debt_amount, due_date, city, uf FROM ${TABLE} WHERE id % ${CAMPAIGNS} = ${i} ORDER BY id`,
    })), mkdtempSync(path.join(settings.dataDir, 'campaigns-')));
    const campaigns = loadCampaigns(campaignsDir).campaigns;
    // Each run of the bench starts with nothing delivered (its data folder outlives it).
    await target.query(`DELETE FROM mailing_deliveries WHERE campaign LIKE 'bench\\_%'`);
    const sftp = await connectSftp(settings.sftp);
    for (const folder of ['/bench', '/script']) if (await sftp.exists(folder)) await sftp.rmdir(folder, true);
    for (const name of names) {
      await sftp.mkdir(`/bench/${name}`, true);
      await sftp.mkdir(`/script/${name}`, true);
    }

    // Baseline 1: the same rows, unformatted, COPY TO into /dev/null, one campaign after the other.
    const rawCopy = async () => {
      const started = process.hrtime.bigint();
      const client = await reader.connect();
      for (let i = 0; i < CAMPAIGNS; i++) {
        await pipeline(client.query(copyTo(`COPY (SELECT * FROM ${TABLE} WHERE id % ${CAMPAIGNS} = ${i}) TO STDOUT WITH (FORMAT csv)`)),
          createWriteStream('/dev/null'));
      }
      client.release();
      return seconds(started);
    };

    // Baseline 2: what a plain script does: each campaign's formatted export to a local file, then its upload.
    const script = async (round: number) => {
      const started = process.hrtime.bigint();
      const client = await reader.connect();
      for (const campaign of campaigns) {
        const file = path.join(scratch, `${campaign.name}.csv`);
        await pipeline(client.query(copyTo(campaignCopySql(campaign))), createWriteStream(file));
        await sftp.put(file, `/script/${campaign.name}/r${round}.csv`);
      }
      client.release();
      return seconds(started);
    };

    const workflowBundle = await bundleWorkflows();
    const taskQueue = `bench-${randomUUID().slice(0, 8)}`;
    const workers = await startWorkers({ ...settings, mailing: { campaignsDir } }, { workflowBundle, taskQueue });
    const client = await connectClient(settings);
    const cycle = async (round: number) => {
      const started = process.hrtime.bigint();
      const workflowId = `bench-mailing-${randomUUID()}`;
      const result = await client.workflow.execute('mailingCampaigns', {
        taskQueue, workflowId, args: [{ campaigns: names, parallelism: PARALLELISM, slot: `2030-01-${String(round + 1).padStart(2, '0')}T10:00:00-03:00` }],
      }) as MailingResult;
      const s = seconds(started);
      // Verified on the server: every final file there, with the bytes the workflow counted.
      for (const c of result.campaigns) {
        if (c.status !== 'delivered' || c.rows !== ROWS_PER_CAMPAIGN) throw new Error(`${c.campaign}: ${c.status}, ${c.rows} rows`);
        const size = (await sftp.stat(c.remotePath!)).size;
        if (size !== c.bytes) throw new Error(`${c.remotePath}: ${size} bytes on the server, ${c.bytes} sent`);
      }
      return { s, result, activityS: await activitySeconds(client.workflow.getHandle(workflowId)) };
    };

    const memory = sampleMemory(await postmasterPid(target));
    const raws: number[] = [];
    const scripts: number[] = [];
    const cycles: Awaited<ReturnType<typeof cycle>>[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      raws.push(await rawCopy());
      if (round % 2 === 0) {
        cycles.push(await cycle(round));
        scripts.push(await script(round));
      } else {
        scripts.push(await script(round));
        cycles.push(await cycle(round));
      }
      console.error(`# round ${round + 1}: raw COPY ${raws[round].toFixed(2)} s, script ${scripts[round].toFixed(2)} s, workflow ${cycles[round].s.toFixed(2)} s`);
    }
    const peaks = memory.stop();
    await client.connection.close();
    await workers.shutdown();
    await sftp.end();

    const cycleS = median(cycles.map((c) => c.s));
    const typical = cycles.find((c) => c.s === cycleS)!;
    const bytes = typical.result.campaigns.reduce((sum, c) => sum + c.bytes, 0);
    const ratioToCopy = median(cycles.map((c, i) => raws[i] / c.s));
    const figures = {
      pipeline: 'mailingCampaigns',
      rounds: ROUNDS,
      rows: total,
      wall_s: cycleS,
      rows_per_s: Math.round(total / cycleS),
      ratio_to_copy: ratioToCopy,
      ...peaks,
      campaigns: CAMPAIGNS,
      rows_per_campaign: ROWS_PER_CAMPAIGN,
      parallelism: PARALLELISM,
      bytes_total: bytes,
      cycle_mb_per_s: +(bytes / 1e6 / cycleS).toFixed(1),
      raw_copy_s: +median(raws).toFixed(2),
      sequential_script_s: +median(scripts).toFixed(2),
      speedup_vs_script: +median(cycles.map((c, i) => scripts[i] / c.s)).toFixed(2),
      temporal_share_pct: +(((typical.s - typical.activityS) / typical.s) * 100).toFixed(1),
      goal_s: 15,
      speedup_vs_old_script_7min: +(420 / cycleS).toFixed(0),
    };
    printFigures([
      `(medians of ${ROUNDS} rounds; ratios within each round)`,
      `workflow cycle     ${CAMPAIGNS} campaigns x ${ROWS_PER_CAMPAIGN} rows  ${cycleS.toFixed(2)} s  ${figures.rows_per_s} rows/s  ${figures.cycle_mb_per_s} MB/s  (goal < ${figures.goal_s} s)`,
      `raw COPY           same rows, unformatted, into /dev/null  ${figures.raw_copy_s} s  (${ratioToCopy.toFixed(3)}x of the cycle's speed)`,
      `sequential script  export to a file, upload, next  ${figures.sequential_script_s} s  (the workflow is ${figures.speedup_vs_script}x faster)`,
      `Temporal's share   ${figures.temporal_share_pct} % of the cycle was outside activities`,
      `the old process    15-20 min by hand, about 7 min by script: ${figures.speedup_vs_old_script_7min}x`,
      `peak memory        worker ${peaks.peak_rss_mb} MB, Postgres ${peaks.postgres_peak_rss_mb} MB`,
    ], figures);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    await Promise.all([admin.end(), reader.end(), target.end()]);
    await stack.stop();
  }
}


main().catch((error) => {
  console.error(error);
  process.exit(1);
});
