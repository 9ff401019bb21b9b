// Shared by the marketingEnrichment tests: customer files with ids of their own, and worker settings that
// point the real @google/genai SDK at the local fake Gemini server.
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { generateCustomers, writeCustomersCsv, type CustomerRow } from '../../lib/sample-data/marketing-enrichment';
import type { Settings } from '../../lib/config/settings';
import type { FakeGemini } from './fake-gemini';
import { settings } from './env';

export const tempDir = (name: string): string => mkdtempSync(path.join(os.tmpdir(), `etl-${name}-`));

/** A folder of the test's own under the test stack's export root: `folder` goes in `outputs.folder`, the files land in `path`. */
export function exportFolder(name: string): { folder: string; path: string } {
  const folder = `tests/${name}-${randomUUID().slice(0, 8)}`;
  return { folder, path: path.join(settings.exportDir, folder) };
}

/** `count` clean customers whose ids start with `prefix` (so tests never share customers), plus `extra` rows as given. */
export function customerRows(prefix: string, count: number, extra: Partial<CustomerRow>[] = []): CustomerRow[] {
  const rows = generateCustomers({ count, seed: 7, badRowRate: 0 }).map((row) => ({ ...row, id: row.id.replace('CLI', prefix) }));
  const template = rows[0];
  return [...rows, ...extra.map((row) => ({ ...template, ...row }))];
}

export function writeCustomers(dir: string, prefix: string, count: number, extra: Partial<CustomerRow>[] = []): string {
  const file = path.join(dir, `${prefix}.csv`);
  writeCustomersCsv(file, customerRows(prefix, count, extra));
  return file;
}

export async function writeCustomersXlsx(file: string, rows: CustomerRow[]): Promise<void> {
  const workbook = new ExcelJS.Workbook();
  const sheet = workbook.addWorksheet('Clientes');
  sheet.addRow(['ID', 'Nome', 'E-mail', 'Cidade', 'UF', 'Interesse', 'Data de cadastro']);
  for (const r of rows) sheet.addRow([r.id, r.nome, r.email, r.cidade, r.uf, r.interesse, new Date(`${r.data_cadastro}T00:00:00Z`)]);
  await workbook.xlsx.writeFile(file);
}

export function geminiSettings(fake: FakeGemini | undefined, overrides: Partial<Settings['gemini']> = {}): Settings {
  return {
    ...settings,
    gemini: { apiKey: fake ? 'test-key' : undefined, baseUrl: fake?.url, requestsPerMinute: 6000, ...overrides },
  };
}
