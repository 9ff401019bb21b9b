// Worker logs carry error types, codes and ids, never values from rows: a failure quoting a customer's name and CPF
// is logged with them scrubbed (the encrypted workflow history keeps the full message).
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { createLogger, scrubText } from '../../lib/temporal/logging';

describe('worker logs', () => {
  it('scrub row values from failure messages, stacks and details, and keep types, codes and ids', () => {
    const lines: string[] = [];
    const logger = createLogger(new Writable({ write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    } }));
    const failure = ApplicationFailure.create({
      type: 'DataError', nonRetryable: true,
      message: 'loading customers: duplicate key value violates unique constraint "customers_pkey": Key (cpf)=(123.456.789-09) already exists; '
        + 'row {"name": "Maria da Silva", "email": "maria@example.com.br", "phone": "+55 11 98765-4321"} (SQLSTATE 23505)',
      details: [{ name: 'Maria da Silva', cpf: '12345678909' }],
    });
    logger.warn({ error: failure, workflowId: 'marketing-42', activityType: 'stageCustomers' }, 'Activity failed');
    logger.info("customer 'Maria da Silva' (CPF 12345678909) staged");
    const text = lines.join('');
    for (const secret of ['Maria', '123.456.789-09', '12345678909', 'maria@example', '98765-4321']) assert.ok(!text.includes(secret), `${secret} in ${text}`);
    const entry = JSON.parse(lines[0]) as { error: { type: string; message: string }; workflowId: string; activityType: string };
    assert.equal(entry.workflowId, 'marketing-42');
    assert.equal(entry.activityType, 'stageCustomers');
    assert.match(entry.error.message, /duplicate key value violates unique constraint "customers_pkey": Key \(cpf\)=\(\[redacted\]\) already exists/);
    assert.match(entry.error.message, /\(SQLSTATE 23505\)$/);
  });

  it('keep dates, identifiers and counts readable', () => {
    assert.equal(scrubText('batch 3 of 12 (500 rows) for 2026-03-16 in "sales_dw.dim_customer"'), 'batch 3 of 12 (500 rows) for 2026-03-16 in "sales_dw.dim_customer"');
  });
});
