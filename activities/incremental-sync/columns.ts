// How each column travels from the source's type to the target's, as set-based SQL over the staging table.
import { escapeLiteral } from 'pg';
import { quoteIdent } from '../../lib/io/postgres';
import type { ColumnInfo } from './introspect';

export type Conversion =
  /** Same type: copied as is. */
  | 'none'
  /** A float or numeric column: NaN and ±Infinity become NULL. */
  | 'non-finite-to-null'
  /** Text into a typed column: empty, NaT, NaN, None, null... become NULL; a value that does not parse quarantines the row. */
  | 'parse-text'
  /** Another type: a plain cast. */
  | 'cast';

export interface ColumnPlan {
  name: string;
  sourceType: string;
  targetType: string;
  conversion: Conversion;
}

/** Strings that pandas, Excel and friends write for "no value". */
export const NULL_TOKENS = ['', 'nat', 'nan', 'none', 'null', 'n/a', 'na', '<na>', 'inf', '-inf', 'infinity', '-infinity'];

const isText = (c: ColumnInfo) => c.category === 'S';
const isNumber = (c: ColumnInfo) => c.category === 'N' && !/^(smallint|integer|bigint)$/.test(c.type);

export function planColumn(source: ColumnInfo, target: ColumnInfo): ColumnPlan {
  const plan = { name: source.name, sourceType: source.type, targetType: target.type };
  if (isNumber(target) && isNumber(source)) return { ...plan, conversion: 'non-finite-to-null' };
  if (source.type === target.type) return { ...plan, conversion: 'none' };
  if (isText(source) && !isText(target)) return { ...plan, conversion: 'parse-text' };
  return { ...plan, conversion: 'cast' };
}

const col = (name: string) => `s.${quoteIdent(name)}`;
const tokenList = NULL_TOKENS.map((t) => escapeLiteral(t)).join(', ');
// The length test first: most values are real dates or numbers, and it spares them the lower(btrim()).
const isNullToken = (name: string) => `(length(${col(name)}) <= 16 AND lower(btrim(${col(name)})) IN (${tokenList}))`;
/** Compared as numbers, not as text: no per-row float-to-text conversion on the hot path. */
const isNonFinite = (c: ColumnPlan) => {
  const type = c.sourceType.startsWith('numeric') ? 'numeric' : 'float8';
  return `${col(c.name)} IN ('NaN'::${type}, 'Infinity'::${type}, '-Infinity'::${type})`;
};

/** A condition that is true when this column's value will be loaded as NULL although it was not NULL. */
export function nulledCondition(c: ColumnPlan): string | undefined {
  if (c.conversion === 'non-finite-to-null') return isNonFinite(c);
  if (c.conversion === 'parse-text') return `${col(c.name)} IS NOT NULL AND ${isNullToken(c.name)}`;
  return undefined;
}

/** A text expression naming the problem when the value cannot be loaded, NULL when it can. */
export function problemExpression(c: ColumnPlan, isKey: boolean): string | undefined {
  const problems: string[] = [];
  if (isKey) problems.push(`CASE WHEN ${col(c.name)} IS NULL THEN ${escapeLiteral(`key column ${c.name} is null`)} END`);
  if (c.conversion === 'parse-text') {
    problems.push(
      `CASE WHEN ${col(c.name)} IS NOT NULL AND NOT ${isNullToken(c.name)}
             AND NOT public.etl_input_is_valid(${col(c.name)}, ${escapeLiteral(c.targetType)})
            THEN format('column %s: %L is not a valid %s', ${escapeLiteral(c.name)}, left(${col(c.name)}, 200), ${escapeLiteral(c.targetType)}) END`,
    );
  }
  return problems.length ? problems.join(', ') : undefined;
}

/**
 * The value as the source can send it for the target's own COPY input to take, when that gives exactly what
 * loadExpression gives: undefined for casts (a cast and a type's text input do not always agree).
 */
export function sourceSideLoadExpression(c: ColumnPlan): string | undefined {
  switch (c.conversion) {
    case 'none':
      return col(c.name);
    case 'non-finite-to-null':
      return c.sourceType === c.targetType ? `CASE WHEN ${isNonFinite(c)} THEN NULL ELSE ${col(c.name)} END` : undefined;
    case 'parse-text':
      return `CASE WHEN ${isNullToken(c.name)} THEN NULL ELSE ${col(c.name)} END`;
    case 'cast':
      return undefined;
  }
}

/** The value as the target column takes it. */
export function loadExpression(c: ColumnPlan): string {
  switch (c.conversion) {
    case 'none':
      return col(c.name);
    case 'non-finite-to-null':
      return `CASE WHEN ${isNonFinite(c)} THEN NULL ELSE ${col(c.name)}::${c.targetType} END`;
    case 'parse-text':
      return `CASE WHEN ${isNullToken(c.name)} THEN NULL ELSE ${col(c.name)}::${c.targetType} END`;
    case 'cast':
      return `${col(c.name)}::${c.targetType}`;
  }
}
