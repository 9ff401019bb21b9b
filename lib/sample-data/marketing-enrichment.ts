// A synthetic Brazilian customer base for marketingEnrichment: the same seed always gives the same file.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { INTERESTS } from '../contracts/marketing-enrichment';
import { seededRandom } from './seeded-random';

const FIRST_NAMES = ['Ana', 'Bruno', 'Carla', 'Diego', 'Elisa', 'Fábio', 'Gabriela', 'Heitor', 'Isabela', 'João', 'Larissa',
  'Marcos', 'Natália', 'Otávio', 'Paula', 'Rafael', 'Sofia', 'Thiago', 'Vitória', 'Wesley', 'Beatriz', 'Caio', 'Júlia',
  'Luiz', 'Mariana', 'Pedro', 'Renata', 'Sérgio', 'Tatiane', 'Vinícius', 'Yasmin', 'Conceição', 'Raimundo', 'Antônia'];
const LAST_NAMES = ['Silva', 'Santos', 'Oliveira', 'Souza', 'Rodrigues', 'Ferreira', 'Alves', 'Pereira', 'Lima', 'Gomes',
  'Costa', 'Ribeiro', 'Martins', 'Carvalho', 'Almeida', 'Lopes', 'Soares', 'Fernandes', 'Vieira', 'Barbosa', 'Araújo',
  'Nascimento', 'Moreira', 'Cavalcanti', 'Teixeira', 'Mendes', 'Freitas', 'Cardoso'];
const CITIES: [string, string][] = [['São Paulo', 'SP'], ['Campinas', 'SP'], ['Rio de Janeiro', 'RJ'], ['Niterói', 'RJ'],
  ['Belo Horizonte', 'MG'], ['Uberlândia', 'MG'], ['Porto Alegre', 'RS'], ['Curitiba', 'PR'], ['Florianópolis', 'SC'],
  ['Salvador', 'BA'], ['Recife', 'PE'], ['Fortaleza', 'CE'], ['Belém', 'PA'], ['Manaus', 'AM'], ['Goiânia', 'GO'],
  ['Brasília', 'DF'], ['Vitória', 'ES'], ['Natal', 'RN'], ['João Pessoa', 'PB'], ['São Luís', 'MA']];
const EMAIL_DOMAINS = ['gmail.com', 'hotmail.com', 'outlook.com', 'yahoo.com.br', 'uol.com.br', 'bol.com.br'];
// Real bases have rows like these; the pipeline quarantines them with the reason.
const DEFECTS = [
  (row: CustomerRow) => ({ ...row, id: '' }),
  (row: CustomerRow) => ({ ...row, nome: '' }),
  (row: CustomerRow) => ({ ...row, interesse: 'Poupança' }),
];

export const SAMPLE_CUSTOMERS_HEADER = ['id', 'nome', 'email', 'cidade', 'uf', 'interesse', 'data_cadastro'] as const;
export type CustomerRow = Record<(typeof SAMPLE_CUSTOMERS_HEADER)[number], string>;

export interface CustomerSampleOptions {
  count: number;
  seed?: number;
  /** Share of rows with a defect (no id, no name, unknown interest); 0 for a clean base. */
  badRowRate?: number;
}

const plain = (text: string) => text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();

export function generateCustomers({ count, seed = 42, badRowRate = 0.005 }: CustomerSampleOptions): CustomerRow[] {
  const random = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const firstDay = Date.UTC(2019, 0, 1);
  const days = Math.floor((Date.UTC(2026, 0, 1) - firstDay) / 86_400_000);
  return Array.from({ length: count }, (_, i) => {
    const first = pick(FIRST_NAMES);
    const last = `${pick(LAST_NAMES)}${random() < 0.4 ? ` ${pick(LAST_NAMES)}` : ''}`;
    const [city, state] = pick(CITIES);
    const joined = new Date(firstDay + Math.floor(random() * days) * 86_400_000);
    const row: CustomerRow = {
      id: `CLI-${String(i + 1).padStart(6, '0')}`,
      nome: `${first} ${last}`,
      email: `${plain(first)}.${plain(last.split(' ')[0])}${i + 1}@${pick(EMAIL_DOMAINS)}`,
      cidade: city,
      uf: state,
      interesse: pick(INTERESTS),
      data_cadastro: joined.toISOString().slice(0, 10),
    };
    return random() < badRowRate ? pick(DEFECTS)(row) : row;
  });
}

/** Writes the sample as a Brazilian-Excel CSV (`;`, UTF-8 with BOM), under a temporary name and renamed. */
export function writeCustomersCsv(file: string, rows: CustomerRow[]): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const text = stringify(rows, { header: true, columns: [...SAMPLE_CUSTOMERS_HEADER], delimiter: ';', bom: true });
  const temporary = `${file}.part-${process.pid}`;
  writeFileSync(temporary, text);
  renameSync(temporary, file);
}

/** Where `{}` finds its customers: generated once per data folder, 1,000 of them. */
export const demoCustomersFile = (dataDir: string): string => path.join(dataDir, 'samples', 'customers.csv');
export const DEMO_CUSTOMER_COUNT = 1000;
