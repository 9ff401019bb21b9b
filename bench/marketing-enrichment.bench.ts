// npm run bench:enrich — 1,000 customers through marketingEnrichment against a local Gemini wire-format server
// that allows 15 requests a minute and takes a realistic time per answer, with GEMINI_RPM=15. Measured in the
// same run: one request per customer (the origin script's way, but rate limited instead of dying on 429) on a
// sample, projected to the whole base. Ends with one JSON line of the figures.
import path from 'node:path';
import { projectRoot } from '../lib/config/env';
import type { EnrichmentResult } from '../lib/contracts/marketing-enrichment';
import { installWorkerLogging } from '../lib/temporal/logging';
import { generateCustomers, writeCustomersCsv } from '../lib/sample-data/marketing-enrichment';
import { connectClient } from '../lib/temporal/connection';
import { FakeGemini } from '../test/helpers/fake-gemini';
import { startWorkers } from '../workers';
import { createPool } from '../lib/io/postgres';
import { bundleWorkflows, startBenchStack } from './bench-stack';
import { benchRounds, median, postmasterPid, printFigures, sampleMemory, seconds } from './harness';

const CUSTOMERS = Number(process.env.BENCH_CUSTOMERS ?? 1000);
const RPM = Number(process.env.BENCH_RPM ?? 15);
const BATCH = Number(process.env.BENCH_BATCH ?? 50);
const NAIVE_SAMPLE = Number(process.env.BENCH_NAIVE_SAMPLE ?? 20);
// Each batched run takes over a minute (the rate limit, not the machine): one round unless asked.
const ROUNDS = benchRounds(1);
// A flash-lite answer: about 0.8 s to start, then about 40 ms per customer's message.
const latency = (customers: number) => 800 + 40 * customers;

const round = (n: number, digits = 1) => Number(n.toFixed(digits));

async function main() {
  installWorkerLogging('ERROR');
  const dataDir = path.join(projectRoot, '.data', 'bench-enrich');
  const fake = await new FakeGemini({ apiKey: 'bench-key', latencyMs: latency, rateLimit: { requests: RPM, windowMs: 60_000 } }).start();
  const stack = await startBenchStack('bench-enrich');
  const settings = { ...stack.settings, gemini: { apiKey: 'bench-key', baseUrl: fake.url, requestsPerMinute: RPM } };
  const bundle = await bundleWorkflows();
  const taskQueue = `bench-enrich-${Date.now()}`;
  const workers = await startWorkers(settings, { workflowBundle: { code: bundle.code }, taskQueue });
  const client = await connectClient(settings);
  const target = createPool(settings.postgres.databaseUrl, 1);
  try {
    const customersFile = path.join(dataDir, 'bench-customers.csv');
    writeCustomersCsv(customersFile, generateCustomers({ count: CUSTOMERS, seed: Date.now() % 100_000, badRowRate: 0 }));
    const run = async (label: string, input: object) => {
      fake.reset();
      const started = process.hrtime.bigint();
      const result = await client.workflow.execute('marketingEnrichment', {
        taskQueue, workflowId: `bench-${label}-${Date.now()}`,
        args: [{ customers: customersFile, campaign: `bench-${label}-${Date.now()}`, outputs: { folder: 'bench-out' }, ...input }],
      }) as EnrichmentResult;
      const wall = seconds(started);
      const rateLimited = fake.requests.filter((r) => r.status === 429).length;
      console.error(`# ${label}: ${result.enriched} messages, ${result.requests} requests, ${rateLimited} answered 429, ${wall.toFixed(1)} s`);
      return { result, wall, rateLimited };
    };

    const memory = sampleMemory(await postmasterPid(target));
    const batchedRuns: Awaited<ReturnType<typeof run>>[] = [];
    for (let i = 0; i < ROUNDS; i++) batchedRuns.push(await run('batched', { batchSize: BATCH, maxParallelRequests: 4 }));
    const batched = batchedRuns.find((r) => r.wall === median(batchedRuns.map((b) => b.wall)))!;
    const peaks = memory.stop();
    // The naive way on a sample: its own customers file of NAIVE_SAMPLE rows, one request each.
    writeCustomersCsv(customersFile, generateCustomers({ count: NAIVE_SAMPLE, seed: 1 + (Date.now() % 100_000), badRowRate: 0 }));
    const naive = await run('naive', { batchSize: 1, maxParallelRequests: 4 });
    const naivePerCustomer = naive.wall / naive.result.enriched;
    const naiveProjected = naivePerCustomer * CUSTOMERS;

    const figures = {
      pipeline: 'marketingEnrichment',
      rounds: ROUNDS,
      rows: CUSTOMERS,
      wall_s: batched.wall,
      rows_per_s: Math.round(CUSTOMERS / batched.wall),
      // The bound here is the model's rate limit, not a COPY: the baseline is one request per customer.
      ratio_to_copy: null,
      ...peaks,
      customers: CUSTOMERS,
      rpm: RPM,
      batch_size: BATCH,
      requests: batched.result.requests,
      customers_per_s: round(CUSTOMERS / batched.wall, 2),
      requests_429: batched.rateLimited,
      failed_customers: batched.result.failed,
      tokens: batched.result.tokens?.total ?? 0,
      naive_sample_customers: naive.result.enriched,
      naive_sample_wall_s: round(naive.wall),
      naive_requests_per_min: round((naive.result.requests / naive.wall) * 60),
      naive_projected_requests: CUSTOMERS,
      naive_projected_wall_s: round(naiveProjected),
      naive_minimum_at_rpm_s: round((CUSTOMERS / RPM) * 60),
      speedup_vs_naive: round(naiveProjected / batched.wall),
    };
    printFigures([
      '',
      `marketingEnrichment, ${CUSTOMERS} customers, GEMINI_RPM=${RPM}, local Gemini at ${RPM} requests/min`,
      `  batched (${BATCH}/request): ${figures.requests} requests, ${round(batched.wall)} s, ${figures.customers_per_s} customers/s, `
        + `${figures.requests_429} answered 429, ${figures.failed_customers} failed`,
      `  one request per customer: ${figures.naive_sample_customers} customers in ${figures.naive_sample_wall_s} s `
        + `(${figures.naive_requests_per_min} requests/min) -> ${CUSTOMERS} would take ${round(naiveProjected / 60)} min `
        + `(at least ${round(figures.naive_minimum_at_rpm_s / 60)} min at ${RPM} RPM)`,
      `  batched is ${figures.speedup_vs_naive}x faster`,
      `  peak memory: worker ${peaks.peak_rss_mb} MB, Postgres ${peaks.postgres_peak_rss_mb} MB`,
    ], figures);
  } finally {
    await target.end();
    await client.connection.close();
    await workers.shutdown();
    await stack.stop();
    await fake.stop();
  }
}


main().catch((error) => {
  console.error(error);
  process.exit(1);
});
