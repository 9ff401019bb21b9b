// Step 2 of marketingEnrichment: the delta. Only this run's customers with no message yet for the campaign
// and prompt version are numbered into batches; a rerun finds nothing left and sends no request.
import { withTransaction } from '../../lib/io/postgres';
import type { MarketingDeps } from './stage-customers';

export interface BatchPlanRequest {
  workflowId: string;
  campaign: string;
  promptVersion: string;
  batchSize: number;
}

export interface BatchPlan {
  total: number;
  alreadyEnriched: number;
  pending: number;
  batches: number;
}

export async function planBatches(deps: MarketingDeps, request: BatchPlanRequest): Promise<BatchPlan> {
  // The run's customers were just staged into a table shared by every run. Statistics taken before (when it held a
  // few small runs) say this run's workflow id has about one row, and the numbering below is then planned as nested
  // loops over every pair of its customers: 20,000 customers took minutes, 200,000 never finished. ANALYZE samples
  // at most 30,000 rows, well under a second at any size.
  await deps.target.query('ANALYZE marketing_run_customers');
  return withTransaction(deps.target, async (client) => {
    const { rows: [counts] } = await client.query<{ total: number; pending: number }>(
      `WITH pending AS (
         SELECT rc.customer_id, (row_number() OVER (ORDER BY rc.line) - 1) / $4 + 1 AS batch
           FROM marketing_run_customers rc
          WHERE rc.workflow_id = $1
            AND NOT EXISTS (SELECT 1 FROM marketing_messages m
                             WHERE m.customer_id = rc.customer_id AND m.campaign = $2 AND m.prompt_version = $3
                               AND m.status = 'enriched'))
       , numbered AS (
         UPDATE marketing_run_customers rc SET batch = p.batch
           FROM (SELECT rc2.customer_id, pending.batch FROM marketing_run_customers rc2
                   LEFT JOIN pending USING (customer_id) WHERE rc2.workflow_id = $1) p
          WHERE rc.workflow_id = $1 AND rc.customer_id = p.customer_id
         RETURNING rc.batch)
       SELECT count(*)::int AS total, count(batch)::int AS pending FROM numbered`,
      [request.workflowId, request.campaign, request.promptVersion, request.batchSize]);
    return {
      total: counts.total,
      alreadyEnriched: counts.total - counts.pending,
      pending: counts.pending,
      batches: Math.ceil(counts.pending / request.batchSize),
    };
  });
}
