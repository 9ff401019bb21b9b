// Which database errors a retry cannot fix: they fail the attempt at once, naming where, instead of retrying for minutes.
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { classifyDbError } from '../../lib/activity/errors';

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('database errors', () => {
  it('a statement that does not parse or calls a missing function fails at once, naming where', () => {
    for (const [code, message] of [['42601', 'syntax error at or near "AS"'], ['42883', 'function pg_input_is_valid(text, text) does not exist']]) {
      const failure = classifyDbError(pgError(code, message), 'computing features') as ApplicationFailure;
      assert.ok(failure instanceof ApplicationFailure, code);
      assert.equal(failure.nonRetryable, true, code);
      assert.equal(failure.type, 'SchemaError');
      assert.equal(failure.message, `computing features: ${message} (SQLSTATE ${code})`);
    }
  });

  it('a dropped connection or a deadlock is left to the retry policy', () => {
    for (const code of ['57P01', '40P01', '08006']) {
      const error = pgError(code, 'transient');
      assert.equal(classifyDbError(error, 'loading'), error, code);
    }
  });
});
