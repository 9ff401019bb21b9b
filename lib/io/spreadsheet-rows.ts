// Streams the rows of a CSV (`,` or `;`, with or without a BOM) or of an XLSX's first sheet, as records
// keyed by the header row. Nothing holds the whole file in memory.
import { createReadStream, openSync, readSync, closeSync } from 'node:fs';
import { parse } from 'csv-parse';
import ExcelJS from 'exceljs';
import { type CsvDelimiter, detectDelimiter as detectHeaderDelimiter, firstLine } from './csv-dialect';

export type CellValue = string | number | Date | null;

export interface SheetRow {
  /** Line in the file (CSV) or row number in the sheet (XLSX), counting the header as 1. */
  line: number;
  record: Record<string, CellValue>;
}

export class FileFormatError extends Error {
  override name = 'FileFormatError';
}

/** The file's separator from its header line (the rule every pipeline shares: lib/io/csv-dialect.ts). */
export function detectDelimiter(file: string): CsvDelimiter {
  const buffer = Buffer.alloc(64 * 1024);
  const fd = openSync(file, 'r');
  try {
    return detectHeaderDelimiter(firstLine(buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, 0))));
  } finally {
    closeSync(fd);
  }
}

export async function* readSheetRows(file: string): AsyncGenerator<SheetRow> {
  if (/\.xlsx$/i.test(file)) yield* readXlsxRows(file);
  else yield* readCsvRows(file);
}

async function* readCsvRows(file: string): AsyncGenerator<SheetRow> {
  const parser = createReadStream(file).pipe(parse({
    delimiter: detectDelimiter(file),
    bom: true,
    columns: (header: string[]) => header.map((name) => name.trim()),
    relax_column_count: true,
    skip_empty_lines: true,
    trim: true,
    info: true,
  }));
  for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
    yield { line: info.lines, record };
  }
}

async function* readXlsxRows(file: string): AsyncGenerator<SheetRow> {
  const reader = new ExcelJS.stream.xlsx.WorkbookReader(file, { worksheets: 'emit', sharedStrings: 'cache', hyperlinks: 'ignore', styles: 'cache' });
  for await (const sheet of reader) {
    let header: string[] | undefined;
    for await (const row of sheet) {
      const values = (row.values as ExcelJS.CellValue[]).slice(1).map(plainValue);
      if (!header) {
        header = values.map((v) => String(v ?? '').trim());
        continue;
      }
      if (values.every((v) => v === null || v === '')) continue;
      yield { line: row.number, record: Object.fromEntries(header.map((name, i) => [name, values[i] ?? null])) };
    }
    if (!header) throw new FileFormatError(`${file}: the first sheet is empty (no header row)`);
    return; // Only the first sheet holds customers.
  }
}

/** A cell's value as a string, number or date: rich text, hyperlinks and formulas give their text or result. */
function plainValue(value: ExcelJS.CellValue | undefined): CellValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number' || value instanceof Date) return value;
  if (typeof value === 'boolean') return String(value);
  if ('richText' in value) return value.richText.map((part) => part.text).join('');
  if ('text' in value) return String(value.text);
  if ('result' in value) return plainValue(value.result as ExcelJS.CellValue);
  return null;
}
