// The business team's files: an XLSX that opens cleanly in Brazilian Excel and a `;` CSV with a UTF-8 BOM,
// one row per customer of the run (message, or why there is none), plus the quarantined rows.
import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import ExcelJS from 'exceljs';

export interface MessageRow {
  customer_id: string;
  name: string;
  email: string | null;
  city: string | null;
  state: string | null;
  interest: string;
  signup_date: string | null;
  status: 'enriched' | 'failed' | null;
  message: string | null;
  word_count: number | null;
  failure_reason: string | null;
  provider: string | null;
  model: string | null;
  /** São Paulo wall-clock time, `YYYY-MM-DDTHH:MM:SS`. */
  created_local: string | null;
}

export interface QuarantinedRow {
  reason: string;
  row_data: Record<string, unknown>;
}

export interface RunSummary {
  label: string;
  value: number | string;
}

const STATUS_PT: Record<string, string> = { enriched: 'enriquecido', failed: 'falhou' };

interface Column {
  header: string;
  width: number;
  value: (row: MessageRow) => string | number | Date | null;
  /** Excel number format for dates and numbers. */
  numFmt?: string;
}

/** A wall-clock date-time as a Date whose UTC fields are that wall clock: Excel cells have no time zone. */
const wallClock = (text: string | null) => (text ? new Date(`${text.length === 10 ? `${text}T00:00:00` : text}Z`) : null);

const COLUMNS: Column[] = [
  { header: 'ID', width: 14, value: (r) => r.customer_id },
  { header: 'Nome', width: 30, value: (r) => r.name },
  { header: 'E-mail', width: 34, value: (r) => r.email },
  { header: 'Cidade', width: 18, value: (r) => r.city },
  { header: 'UF', width: 5, value: (r) => r.state },
  { header: 'Interesse', width: 15, value: (r) => r.interest },
  { header: 'Data de cadastro', width: 16, value: (r) => wallClock(r.signup_date), numFmt: 'dd/mm/yyyy' },
  { header: 'Mensagem', width: 70, value: (r) => r.message },
  { header: 'Palavras', width: 10, value: (r) => r.word_count, numFmt: '0' },
  { header: 'Status', width: 13, value: (r) => (r.status ? STATUS_PT[r.status] : 'pendente') },
  { header: 'Motivo', width: 40, value: (r) => r.failure_reason },
  { header: 'Provedor', width: 10, value: (r) => r.provider },
  { header: 'Modelo', width: 22, value: (r) => r.model },
  { header: 'Gerada em', width: 18, value: (r) => wallClock(r.created_local), numFmt: 'dd/mm/yyyy hh:mm' },
];

const boldHeader = (sheet: ExcelJS.Worksheet, columns: number) => {
  sheet.getRow(1).font = { bold: true };
  sheet.autoFilter = { from: { row: 1, column: 1 }, to: { row: 1, column: columns } };
};

export async function writeXlsx(file: string, rows: MessageRow[], quarantined: QuarantinedRow[], summary: RunSummary[]): Promise<void> {
  const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: file, useStyles: true, useSharedStrings: false });
  const frozenHeader: Partial<ExcelJS.WorksheetView>[] = [{ state: 'frozen', ySplit: 1 }];

  const messages = workbook.addWorksheet('Mensagens', { views: frozenHeader });
  messages.columns = COLUMNS.map((c) => ({ header: c.header, width: c.width, style: c.numFmt ? { numFmt: c.numFmt } : {} }));
  boldHeader(messages, COLUMNS.length);
  for (const row of rows) messages.addRow(COLUMNS.map((c) => c.value(row))).commit();
  messages.commit();

  const quarantine = workbook.addWorksheet('Quarentena', { views: frozenHeader });
  quarantine.columns = [{ header: 'Linha', width: 8, style: { numFmt: '0' } }, { header: 'Motivo', width: 60 }, { header: 'Conteúdo', width: 90 }];
  boldHeader(quarantine, 3);
  for (const { reason, row_data: { line, ...data } } of quarantined) {
    quarantine.addRow([Number(line), reason.replace(/^line \d+: /, ''), JSON.stringify(data)]).commit();
  }
  quarantine.commit();

  const totals = workbook.addWorksheet('Resumo');
  totals.columns = [{ header: 'Item', width: 40 }, { header: 'Valor', width: 50 }];
  boldHeader(totals, 2);
  for (const { label, value } of summary) totals.addRow([label, value]).commit();
  totals.commit();
  await workbook.commit();
}

const brDate = (date: Date | null, withTime: boolean) => {
  if (!date) return '';
  const iso = date.toISOString();
  const day = `${iso.slice(8, 10)}/${iso.slice(5, 7)}/${iso.slice(0, 4)}`;
  return withTime ? `${day} ${iso.slice(11, 16)}` : day;
};

/** `;`-separated, UTF-8 with a BOM, dates as dd/mm/yyyy: what Brazilian Excel opens correctly with a double click. */
export async function writeCsv(file: string, rows: MessageRow[]): Promise<void> {
  const output = createWriteStream(file);
  const csv = stringify({ delimiter: ';', bom: true, header: true, columns: COLUMNS.map((c) => c.header), record_delimiter: 'windows' });
  csv.pipe(output);
  for (const row of rows) {
    const record = COLUMNS.map((c) => {
      const value = c.value(row);
      return value instanceof Date ? brDate(value, c.numFmt!.includes('hh')) : (value ?? '');
    });
    if (!csv.write(record)) await new Promise((resolve) => csv.once('drain', resolve));
  }
  csv.end();
  await finished(output);
}
