import type { Readable } from 'node:stream';
import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { Campaign } from '../../lib/contracts/mailing-campaign-file';
import { isTransient } from '../../lib/activity/errors';
import { ErrorType } from '../../lib/workflow/errors';
import { inTransaction, singleSelectProblem } from '../../lib/io/postgres';
import { campaignCopySql, columnExpression } from './campaign-sql';

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
  // Only Postgres errors (a SQLSTATE string): an SFTP failure met by the consumer carries a numeric status code.
  if (error instanceof ApplicationFailure || typeof pgError?.code !== 'string' || isTransient(error)) return error;
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
    // No ROLLBACK on failure: the connection is closed instead (finally below), which ends the transaction and its
    // locks at once. A ROLLBACK would wait behind a COPY still running, and a consumer that failed (the SFTP server
    // gone) would otherwise leave the transaction open on the source, holding its locks, for ever.
    await client.query('BEGIN READ ONLY');
    await client.query(`SET LOCAL statement_timeout = ${campaign.statementTimeoutSeconds * 1000}`);
    await client.query(`SELECT set_config('TimeZone', $1, true)`, [timeZone]);
    const problem = await singleSelectProblem(client, campaign.sql);
    if (problem) {
      throw ApplicationFailure.nonRetryable(`campaign ${campaign.name}, query campaigns/sql/${campaign.sqlFile}: ${problem}`, ErrorType.CampaignQueryError);
    }
    const csv = client.query(copyTo(campaignCopySql(campaign)));
    const consumed = await consume(csv);
    await client.query('COMMIT');
    return { rows: csv.rowCount, consumed };
  } catch (error) {
    broken = error as Error;
    if ((error as PgError)?.code === UNTRANSLATABLE_CHARACTER) {
      const where = await findUnencodable(source, campaign, timeZone).catch(() => undefined);
      if (where) {
        throw ApplicationFailure.create({
          type: ErrorType.CampaignQueryError, nonRetryable: true,
          message: `campaign ${campaign.name}: row ${where.row} of the query (line ${where.row + (campaign.header ? 1 : 0)} of the file), column ${where.column}, `
            + `holds a character encoding ${campaign.encoding} cannot represent (query campaigns/sql/${campaign.sqlFile}): ${(error as Error).message}; `
            + 'no file was delivered',
        });
      }
    }
    throw classifyQueryError(error, campaign);
  } finally {
    // A COPY stopped half-way leaves the connection mid-protocol: it is closed, not reused.
    client.release(broken);
  }
}

const UNTRANSLATABLE_CHARACTER = '22P05';

/** The characters each file encoding can hold, as a Postgres regular expression class (UTF8 holds them all). */
const ENCODABLE: Record<string, string> = {
  LATIN1: '\\u0001-\\u00ff',
  WIN1252: '\\u0001-\\u007f\\u00a0-\\u00ff€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ',
};

/**
 * After an export failed on a character its encoding cannot hold, the first row and column holding one (the error
 * Postgres gives names neither). Runs the campaign's query again, read-only, only on that failure.
 */
async function findUnencodable(source: pg.Pool, campaign: Campaign, timeZone: string): Promise<{ row: number; column: string } | undefined> {
  const allowed = ENCODABLE[campaign.encoding];
  if (!allowed) return undefined;
  const client = await source.connect();
  try {
    return await inTransaction(client, async () => {
      await client.query(`SET LOCAL statement_timeout = ${campaign.statementTimeoutSeconds * 1000}`);
      await client.query(`SELECT set_config('TimeZone', $1, true)`, [timeZone]);
      const values = campaign.columns.map((c, i) => `(${i}, ${pg.escapeLiteral(c.header)}, c${i})`).join(', ');
      const { rows } = await client.query<{ row: string; column: string }>(`SELECT x.n AS row, v.header AS column FROM (
          SELECT row_number() OVER () AS n, ${campaign.columns.map((c, i) => `${columnExpression(c)} AS c${i}`).join(', ')}
          FROM (\n${campaign.sql}\n) AS campaign) x
        CROSS JOIN LATERAL (VALUES ${values}) AS v(i, header, value)
        WHERE v.value ~ ${pg.escapeLiteral(`[^${allowed}]`)} ORDER BY x.n, v.i LIMIT 1`);
      return rows[0] ? { row: Number(rows[0].row), column: rows[0].column } : undefined;
    }, { readOnly: true });
  } finally {
    client.release();
  }
}
