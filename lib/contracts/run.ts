/** Which workflow run an activity works for: staging tables, files and journal rows are named after it. */
export interface RunRef {
  workflowId: string;
  runId: string;
}

/** The schema where runs keep their working tables; each run drops its own when it ends. */
export const STAGING_SCHEMA = 'etl_staging';

/** A run's mark in its staging tables' names: two runs never share a table, and a retried step finds its own. */
export const runStagingId = (runId: string): string => runId.replace(/-/g, '').slice(0, 12);

/** A staging table of one run: `etl_staging.<pipeline>_<table>_<run>`. */
export const stagingTable = (pipeline: string, table: string, runId: string): string =>
  `${STAGING_SCHEMA}.${pipeline}_${table}_${runStagingId(runId)}`;
