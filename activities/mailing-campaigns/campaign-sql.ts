// The dialer's layout as SQL around the campaign's query: Postgres formats every value and writes the CSV
// (COPY ... TO STDOUT), so no row passes through a JavaScript loop.
import pg from 'pg';
import type { Campaign, CampaignColumn } from '../../lib/contracts/mailing-campaign-file';

const DATE_TOKENS: Record<string, string> = { yyyy: 'YYYY', yy: 'YY', MM: 'MM', dd: 'DD', HH: 'HH24', mm: 'MI', ss: 'SS' };

/** dd/MM/yyyy HH:mm -> DD/MM/YYYY HH24:MI (the pattern was checked at load: tokens and separators only). */
export function toCharPattern(pattern: string): string {
  return pattern.replace(/yyyy|yy|MM|dd|HH|mm|ss/g, (token) => DATE_TOKENS[token]);
}

/** A Brazilian phone's DDD and number, digits only, without the 55 country code when it carries one. */
const nationalPhone = (value: string) => `regexp_replace(regexp_replace(${value}::text, '\\D', '', 'g'), '^55(\\d{10,11})$', '\\1')`;

export function columnExpression(column: CampaignColumn): string {
  const value = `campaign.${pg.escapeIdentifier(column.source)}`;
  switch (column.format) {
    case 'text':
      return column.maxLength ? `left(${value}::text, ${column.maxLength})` : `${value}::text`;
    case 'phone': {
      const national = nationalPhone(value);
      switch (column.style) {
        case 'ddd-number': return national;
        case 'e164': return `'+55' || ${national}`;
        case 'with-country': return `'55' || ${national}`;
        case 'ddd': return `left(${national}, 2)`;
        case 'number': return `substr(${national}, 3)`;
      }
      break;
    }
    case 'date':
      return `to_char(${value}, ${pg.escapeLiteral(toCharPattern(column.pattern))})`;
    case 'number': {
      const rounded = `round(${value}::numeric, ${column.decimals})::text`;
      return column.decimalSeparator === '.' ? rounded : `replace(${rounded}, '.', ',')`;
    }
  }
  throw new Error(`unknown column format ${(column as { format: string }).format}`);
}

/** The COPY statement that writes a campaign's file: its query, laid out, separated, encoded and headed as the dialer wants. */
export function campaignCopySql(campaign: Campaign): string {
  const select = campaign.columns.map((c) => `${columnExpression(c)} AS ${pg.escapeIdentifier(c.header)}`).join(',\n       ');
  const options = [
    'FORMAT csv',
    `DELIMITER ${pg.escapeLiteral(campaign.separator)}`,
    `HEADER ${campaign.header ? 'true' : 'false'}`,
    `ENCODING ${pg.escapeLiteral(campaign.encoding)}`,
    ...(campaign.quoteAll ? ['FORCE_QUOTE *'] : []),
  ];
  // The query goes on lines of its own, so that a trailing -- comment in it cannot swallow the closing parenthesis.
  return `COPY (SELECT ${select}\n  FROM (\n${campaign.sql}\n) AS campaign) TO STDOUT WITH (${options.join(', ')})`;
}
