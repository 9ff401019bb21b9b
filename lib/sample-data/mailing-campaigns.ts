// A synthetic partner customer base, like the ones partner companies hand over for call campaigns: Brazilian
// names, mobile phones with DDD written three ways, CPF-like ids (11 digits, not valid CPFs: they can never be a
// real person's), cities with their UF, debts and due dates. Deterministic for a seed; made in one set-based INSERT.
import type pg from 'pg';

export const PARTNERS_TABLE = 'public.partner_customers';

export const partnersTableSql = (table = PARTNERS_TABLE) => `
CREATE TABLE IF NOT EXISTS ${table} (
  id          bigint        PRIMARY KEY,
  partner     text          NOT NULL,
  segment     text          NOT NULL,
  cpf         text          NOT NULL,
  full_name   text          NOT NULL,
  phone       text          NOT NULL,
  phone_alt   text,
  city        text          NOT NULL,
  uf          char(2)       NOT NULL,
  birth_date  date          NOT NULL,
  debt_amount numeric(12,2) NOT NULL,
  due_date    date          NOT NULL,
  status      text          NOT NULL,
  opt_in      boolean       NOT NULL,
  created_at  timestamptz   NOT NULL,
  updated_at  timestamptz   NOT NULL
)`;

const FIRST_NAMES = ['Ana', 'Maria', 'Francisca', 'Antônia', 'Adriana', 'Juliana', 'Márcia', 'Fernanda', 'Patrícia', 'Aline',
  'Camila', 'Letícia', 'Beatriz', 'Luíza', 'Gabriela', 'José', 'João', 'Antônio', 'Francisco', 'Carlos', 'Paulo', 'Pedro',
  'Lucas', 'Luiz', 'Marcos', 'Luís', 'Gabriel', 'Rafael', 'Daniel', 'Marcelo', 'Bruno', 'Eduardo', 'Felipe', 'Raimundo',
  'Rodrigo', 'Thiago', 'Conceição', 'Sebastião', 'Iara', 'Caio'];
const SURNAMES = ['Silva', 'Santos', 'Oliveira', 'Souza', 'Rodrigues', 'Ferreira', 'Alves', 'Pereira', 'Lima', 'Gomes',
  'Costa', 'Ribeiro', 'Martins', 'Carvalho', 'Almeida', 'Lopes', 'Soares', 'Fernandes', 'Vieira', 'Barbosa', 'Rocha',
  'Dias', 'Nascimento', 'Andrade', 'Moreira', 'Nunes', 'Marques', 'Machado', 'Mendes', 'Freitas', 'Cardoso', 'Ramos',
  'Gonçalves', 'Santana', 'Teixeira', 'Araújo', 'Conceição', 'Monteiro'];
/** City, UF and its DDD. */
const CITIES: [string, string, string][] = [
  ['São Paulo', 'SP', '11'], ['Guarulhos', 'SP', '11'], ['Campinas', 'SP', '19'], ['Santos', 'SP', '13'], ['Ribeirão Preto', 'SP', '16'],
  ['Rio de Janeiro', 'RJ', '21'], ['Niterói', 'RJ', '21'], ['Belo Horizonte', 'MG', '31'], ['Uberlândia', 'MG', '34'],
  ['Vitória', 'ES', '27'], ['Salvador', 'BA', '71'], ['Feira de Santana', 'BA', '75'], ['Recife', 'PE', '81'],
  ['Fortaleza', 'CE', '85'], ['Natal', 'RN', '84'], ['João Pessoa', 'PB', '83'], ['Maceió', 'AL', '82'], ['Aracaju', 'SE', '79'],
  ['São Luís', 'MA', '98'], ['Teresina', 'PI', '86'], ['Belém', 'PA', '91'], ['Manaus', 'AM', '92'], ['Curitiba', 'PR', '41'],
  ['Londrina', 'PR', '43'], ['Florianópolis', 'SC', '48'], ['Joinville', 'SC', '47'], ['Porto Alegre', 'RS', '51'],
  ['Caxias do Sul', 'RS', '54'], ['Brasília', 'DF', '61'], ['Goiânia', 'GO', '62'], ['Cuiabá', 'MT', '65'], ['Campo Grande', 'MS', '67'],
];
/** Partner, its segment. */
const PARTNERS: [string, string][] = [
  ['Banco Aurora', 'cartao'], ['Lojas Horizonte', 'varejo'], ['Conecta Telecom', 'telecom'], ['Energia Vale', 'energia'],
  ['Seguradora Atlântica', 'seguros'],
];

export interface PartnerOptions {
  table?: string;
  firstId?: number;
  count: number;
  seed?: number;
}

/**
 * Inserts `count` customers (ids from `firstId`); the same seed gives the same people. Due dates and sign-up
 * times are relative to the day of generation, so that the sample campaigns find customers to call any day.
 */
export async function generatePartnerCustomers(db: pg.Pool | pg.Client, options: PartnerOptions): Promise<number> {
  const first = options.firstId ?? 1;
  const seed = options.seed ?? 42;
  // h(k): a deterministic pseudo-random non-negative number per row and purpose k.
  const h = (k: number) => `abs(hashint8extended(g, ${seed * 1000 + k}))`;
  const pick = (param: string, k: number) => `(${param}::text[])[1 + ${h(k)} % cardinality(${param}::text[])]`;
  const mobile = (k: number) => `'9' || (6 + ${h(k)} % 4)::text || lpad((${h(k + 1)} % 10000000)::text, 7, '0')`;
  const { rowCount } = await db.query(
    `INSERT INTO ${options.table ?? PARTNERS_TABLE}
     SELECT g, p.partner, p.segment,
            lpad((${h(1)} % 1000000000)::text, 9, '0') || lpad((${h(2)} % 100)::text, 2, '0'),
            ${pick('$3', 3)} || ' ' || ${pick('$4', 4)} || ' ' || ${pick('$4', 5)},
            -- The same mobile written as bases write it: (11) 98765-4321, 11987654321 or +55 11 98765-4321.
            CASE ${h(6)} % 5 WHEN 0 THEN '+55 ' || c.ddd || ' ' || left(m.phone, 5) || '-' || right(m.phone, 4)
                             WHEN 1 THEN c.ddd || m.phone
                             WHEN 2 THEN c.ddd || m.phone
                             ELSE '(' || c.ddd || ') ' || left(m.phone, 5) || '-' || right(m.phone, 4) END,
            CASE WHEN ${h(9)} % 3 = 0 THEN c.ddd || ${mobile(10)} END,
            c.city, c.uf,
            date '1950-01-01' + (${h(12)} % 18250)::int,
            round((50 + ${h(13)} % 1500000 / 100.0)::numeric, 2),
            current_date - (${h(14)} % 150)::int + 30,
            (ARRAY['ativo', 'ativo', 'ativo', 'ativo', 'ativo', 'ativo', 'bloqueado', 'quitado'])[1 + ${h(15)} % 8],
            ${h(16)} % 10 <> 0,
            date_trunc('minute', now()) - (${h(17)} % 525600) * interval '1 minute',
            now()
       FROM generate_series($1::bigint, $2::bigint) AS g
       CROSS JOIN LATERAL (SELECT split_part(${pick('$5', 7)}, '|', 1) AS partner, split_part(${pick('$5', 7)}, '|', 2) AS segment) p
       CROSS JOIN LATERAL (SELECT split_part(cc, '|', 1) AS city, split_part(cc, '|', 2) AS uf, split_part(cc, '|', 3) AS ddd
                             FROM (SELECT ${pick('$6', 8)} AS cc) x) c
       CROSS JOIN LATERAL (SELECT ${mobile(18)} AS phone) m
     ON CONFLICT (id) DO NOTHING`,
    [first, first + options.count - 1, FIRST_NAMES, SURNAMES, PARTNERS.map((p) => p.join('|')), CITIES.map((c) => c.join('|'))],
  );
  return rowCount ?? 0;
}

/** Creates the table on the source database and fills it with `count` customers. */
export async function seedPartnerCustomers(source: pg.Pool, count: number, seed = 42, table = PARTNERS_TABLE): Promise<number> {
  await source.query(partnersTableSql(table));
  return generatePartnerCustomers(source, { count, seed, table });
}
