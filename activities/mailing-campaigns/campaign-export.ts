import type { Readable } from 'node:stream';
import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { Campaign } from '../../lib/contracts/mailing-campaign-file';
import { isTransient } from '../../lib/activity/errors';
import { ErrorType } from '../../lib/workflow/errors';
import { inTransaction, singleSelectProblem } from '../../lib/io/postgres';
import { campaignCopySql } from './campaign-sql';

interface PgError extends Error {
  code?: string;
  position?: string;
}

/**
 * A failed campaign query, sorted: connection trouble is retried; a bad query, a missing grant, a value the
 * file's encoding cannot hold or a statement timeout fail the campaign at once, naming its SQL file.
 */
export function classifyQueryError(error: unknown, campaign: Campaign): unknown {
  const pgError = error as PgError;
  if (error instanceof ApplicationFailure || !pgError?.code || isTransient(error)) return error;
  const type = pgError.code.startsWith('28') ? ErrorType.AuthenticationError
    : pgError.code === '57014' ? ErrorType.QueryTimeout
      : ErrorType.CampaignQueryError;
  const detail = pgError.code === '57014' ? ` (statementTimeoutSeconds is ${campaign.statementTimeoutSeconds})` : '';
  return ApplicationFailure.create({
    type,
    nonRetryable: true,
    message: `campaign ${campaign.name}, query campaigns/sql/${campaign.sqlFile}: ${pgError.message}${detail} (SQLSTATE ${pgError.code})`,
  });
}

/**
 * Runs the campaign's query read-only, with its statement timeout, in the slot's time zone, and hands the CSV
 * stream (COPY TO STDOUT) to `consume`. Rows stream from Postgres to wherever `consume` sends them.
 */
export async function exportCampaign<T>(
  source: pg.Pool, campaign: Campaign, timeZone: string, consume: (csv: Readable) => Promise<T>,
): Promise<{ rows: number; consumed: T }> {
  const client = await source.connect();
  let broken: Error | undefined;
  try {
    return await inTransaction(client, async () => {
      await client.query(`SET LOCAL statement_timeout = ${campaign.statementTimeoutSeconds * 1000}`);
      await client.query(`SELECT set_config('TimeZone', $1, true)`, [timeZone]);
      const problem = await singleSelectProblem(client, campaign.sql);
      if (problem) {
        throw ApplicationFailure.nonRetryable(`campaign ${campaign.name}, query campaigns/sql/${campaign.sqlFile}: ${problem}`, ErrorType.CampaignQueryError);
      }
      const csv = client.query(copyTo(campaignCopySql(campaign)));
      const consumed = await consume(csv);
      return { rows: csv.rowCount, consumed };
    }, { readOnly: true });
  } catch (error) {
    broken = error as Error;
    throw classifyQueryError(error, campaign);
  } finally {
    // A COPY stopped half-way leaves the connection mid-protocol: it is closed, not reused.
    client.release(broken);
  }
}
