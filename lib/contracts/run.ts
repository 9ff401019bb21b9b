/** Which workflow run an activity works for: staging tables, files and journal rows are named after it. */
export interface RunRef {
  workflowId: string;
  runId: string;
}
