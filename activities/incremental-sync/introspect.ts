import type pg from 'pg';
import { parseTableName, type TableName } from '../../lib/io/postgres';

export interface ColumnInfo {
  name: string;
  /** As `format_type` spells it, e.g. `timestamp with time zone`, `numeric(12,2)`. */
  type: string;
  /** pg_type.typcategory: S string, N numeric, D date/time, B boolean, ... */
  category: string;
}

export interface TableInfo {
  name: TableName;
  columns: ColumnInfo[];
  /** Column sets covered by a primary key or unique index. */
  uniqueKeys: string[][];
  canSelect: boolean;
  /** pg_class.relkind: r table, p partitioned table, v view, m materialized view, f foreign table. */
  kind: string;
}

/** Reads a table's columns and unique keys from the catalog; undefined when there is no such table. */
export async function describeTable(db: pg.Pool | pg.PoolClient, tableName: string): Promise<TableInfo | undefined> {
  const name = parseTableName(tableName);
  const { rows: found } = await db.query<{ oid: number | null; kind: string }>(
    `SELECT c.oid, c.relkind AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`,
    [name.schema, name.table],
  );
  const oid = found[0]?.oid;
  if (!oid) return undefined;
  const { rows: columns } = await db.query<ColumnInfo>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typcategory AS category
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [oid],
  );
  const { rows: keys } = await db.query<{ columns: string[] }>(
    `SELECT array_agg(a.attname::text ORDER BY a.attname) AS columns
       FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
      WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL
      GROUP BY i.indexrelid`,
    [oid],
  );
  const { rows: privilege } = await db.query<{ ok: boolean }>(`SELECT has_table_privilege($1::oid, 'SELECT') AS ok`, [oid]);
  return { name, columns, uniqueKeys: keys.map((k) => k.columns), canSelect: privilege[0].ok, kind: found[0].kind };
}

export const sameColumnSet = (a: string[], b: string[]): boolean =>
  a.length === b.length && [...a].sort().every((name, i) => name === [...b].sort()[i]);

export const regclassName = (info: TableInfo): string => `${info.name.schema}.${info.name.table}`;
