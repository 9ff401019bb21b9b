import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { checkCustomerRow, mapColumns, toIsoDate } from '../../activities/marketing-enrichment/customer-rows';
import { detectDelimiter, readSheetRows } from '../../lib/io/spreadsheet-rows';
import { toFailure } from '../../activities/marketing-enrichment/gemini';
import { checkAnswer, renderPrompt } from '../../activities/marketing-enrichment/messages';
import { DEFAULT_PROMPT_TEMPLATE } from '../../lib/contracts/marketing-enrichment';
import { generateCustomers } from '../../lib/sample-data/marketing-enrichment';
import { tempDir } from '../helpers/marketing-enrichment';

// The SDK's error class, as the activity receives it (its typings are ESM-only; see activities/marketing-enrichment/gemini.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ApiError } = require('@google/genai') as { ApiError: new (o: { message: string; status: number }) => Error & { status: number } };
const apiError = (status: number, body: object) => new ApiError({ status, message: JSON.stringify(body) }) as never;

describe('checking a model answer', () => {
  const ids = ['a', 'b', 'c', 'd'];
  it('keeps one short message per id and names every other problem', () => {
    const answer = JSON.stringify([
      { id: 'a', message: 'Ana, invista em FIIs hoje!' },
      { id: 'b', message: 'um dois três quatro cinco seis sete oito nove dez onze doze treze' },
      { id: 'c', message: 'primeira' }, { id: 'c', message: 'segunda' },
      { id: 'zzz', message: 'not asked for' },
    ]);
    const { accepted, problems } = checkAnswer(answer, ids, 12);
    assert.deepEqual([...accepted], [['a', 'Ana, invista em FIIs hoje!']]);
    assert.deepEqual(Object.fromEntries(problems), {
      b: 'the message had 13 words; the limit is 12',
      c: 'the model\'s answer had 2 messages for this customer',
      d: 'the model\'s answer had no message for this customer',
    });
  });
  it('an answer that is not JSON leaves every customer to be asked again', () => {
    const { accepted, problems } = checkAnswer('Claro! [{"id": "a"', ids, 12);
    assert.equal(accepted.size, 0);
    assert.deepEqual([...problems.values()], Array(4).fill('the model\'s answer was not valid JSON'));
  });
  it('the prompt carries first names, interests and cities, never e-mails or surnames', () => {
    const prompt = renderPrompt({ template: DEFAULT_PROMPT_TEMPLATE, maxWords: 12, tone: 'direto' },
      [{ id: 'C1', name: 'Maria  da Silva', interest: 'FIIs', city: 'Recife' }]);
    assert.match(prompt, /no máximo 12 palavras e tom direto/);
    assert.ok(prompt.endsWith('[{"id":"C1","nome":"Maria","interesse":"FIIs","cidade":"Recife"}]'));
  });
});

describe('Gemini errors as Temporal failures', () => {
  it('429 carries the RetryInfo delay as the next retry delay', () => {
    const failure = toFailure(apiError(429, { error: { code: 429, status: 'RESOURCE_EXHAUSTED', message: 'quota',
      details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '37s' }] } }), 'm') as ApplicationFailure;
    assert.equal(failure.nonRetryable, false);
    assert.equal(failure.type, 'RateLimited');
    assert.equal(failure.nextRetryDelay, 37_000);
  });
  it('429 without a hint backs off by the retry policy', () => {
    const failure = toFailure(apiError(429, { error: { code: 429, message: 'quota' } }), 'm') as ApplicationFailure;
    assert.equal(failure.nextRetryDelay, undefined);
  });
  it('a bad key, a forbidden key, an unknown model and a bad request fail at once; 5xx retries', () => {
    const invalidKey = toFailure(apiError(400, { error: { status: 'INVALID_ARGUMENT', message: 'API key not valid.',
      details: [{ reason: 'API_KEY_INVALID' }] } }), 'm') as ApplicationFailure;
    const forbidden = toFailure(apiError(403, { error: { status: 'PERMISSION_DENIED', message: 'denied' } }), 'm') as ApplicationFailure;
    const noModel = toFailure(apiError(404, { error: { status: 'NOT_FOUND', message: 'models/x is not found' } }), 'gemini-9') as ApplicationFailure;
    const badRequest = toFailure(apiError(400, { error: { status: 'INVALID_ARGUMENT', message: 'bad schema' } }), 'm') as ApplicationFailure;
    const unavailable = toFailure(apiError(503, { error: { status: 'UNAVAILABLE', message: 'overloaded' } }), 'm') as ApplicationFailure;
    assert.deepEqual([invalidKey, forbidden, noModel, badRequest, unavailable].map((f) => [f.type, f.nonRetryable]), [
      ['AuthenticationError', true], ['AuthenticationError', true], ['BadRequest', true], ['BadRequest', true], ['GeminiUnavailable', false]]);
    assert.match(forbidden.message, /GEMINI_API_KEY/);
    assert.match(noModel.message, /no model "gemini-9"/);
  });
});

describe('reading customer files', () => {
  const dir = tempDir('customer-files');
  it('reads a comma CSV with English headers, and a semicolon CSV with pt-BR headers', async () => {
    const comma = path.join(dir, 'comma.csv');
    writeFileSync(comma, 'customer_id,name,interest,city\nX1,"Silva, Ana",renda fixa,"Rio de Janeiro"\n');
    const semicolon = path.join(dir, 'semi.csv');
    writeFileSync(semicolon, '\uFEFFID;Nome;E-mail;Interesse;Data de Cadastro\nX2;João;J@X.COM;AÇÕES;05/03/2024\n');
    assert.equal(detectDelimiter(comma), ',');
    assert.equal(detectDelimiter(semicolon), ';');
    const rows = [];
    for (const file of [comma, semicolon]) {
      for await (const { record } of readSheetRows(file)) rows.push(checkCustomerRow(record, mapColumns(Object.keys(record), file)));
    }
    assert.deepEqual(rows, [
      { ok: true, customer: { id: 'X1', name: 'Silva, Ana', interest: 'Renda Fixa', email: null, city: 'Rio de Janeiro', state: null, signupDate: null } },
      { ok: true, customer: { id: 'X2', name: 'João', interest: 'Ações', email: 'j@x.com', city: null, state: null, signupDate: '2024-03-05' } },
    ]);
  });
  it('a file without an id, name or interest column is refused, naming what it has', () => {
    assert.throws(() => mapColumns(['codigo', 'cliente', 'produto_favorito'], 'clientes.csv'),
      /clientes\.csv: no column for interesse \(accepted names: interesse\/interest\/interesse_financeiro\/produto\); the header has: codigo, cliente, produto_favorito/);
  });
  it('dates: ISO, dd/mm/yyyy and date cells; an impossible date is left out', () => {
    assert.deepEqual([toIsoDate('2024-02-29'), toIsoDate('1/2/2024'), toIsoDate(new Date(Date.UTC(2020, 5, 1))), toIsoDate('31/02/2024'), toIsoDate('ontem')],
      ['2024-02-29', '2024-02-01', '2020-06-01', null, null]);
  });
  it('the sample customer base is the same for the same seed', () => {
    assert.deepEqual(generateCustomers({ count: 50, seed: 3 }), generateCustomers({ count: 50, seed: 3 }));
    assert.notDeepEqual(generateCustomers({ count: 50, seed: 3 }), generateCustomers({ count: 50, seed: 4 }));
  });
});
