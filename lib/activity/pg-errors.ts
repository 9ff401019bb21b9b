import { ApplicationFailure } from '@temporalio/common';

// SQLSTATE classes that no retry can fix: the person has to change a table, a grant, a URL or the data.
const PERMANENT: Record<string, string> = {
  '42P01': 'SchemaError', // undefined_table
  '42703': 'SchemaError', // undefined_column
  '42804': 'SchemaError', // datatype_mismatch
  '42846': 'SchemaError', // cannot_coerce
  '42P10': 'SchemaError', // invalid_column_reference (no unique index for ON CONFLICT)
  '3F000': 'SchemaError', // invalid_schema_name
  '42501': 'PermissionError', // insufficient_privilege
  '25006': 'PermissionError', // read_only_sql_transaction
  '28000': 'AuthenticationError', // invalid_authorization_specification
  '28P01': 'AuthenticationError', // invalid_password
  '3D000': 'ConfigurationError', // invalid_catalog_name (no such database)
  '21000': 'DataError', // cardinality_violation (duplicate keys in one batch)
  '23505': 'DataError', // unique_violation
  '23502': 'DataError', // not_null_violation
};

interface PgError extends Error {
  code?: string;
  table?: string;
  column?: string;
}

/**
 * Turns a database error into the failure Temporal records: permanent problems fail at once with a
 * message naming what is wrong and where; everything else (connections, deadlocks) is left to the retry policy.
 */
export function classifyDbError(error: unknown, where: string): unknown {
  const pgError = error as PgError;
  if (error instanceof ApplicationFailure || !pgError?.code) return error;
  const sqlState = pgError.code;
  const type = PERMANENT[sqlState] ?? (sqlState.startsWith('22') ? 'DataError' : undefined);
  if (!type) return error;
  return ApplicationFailure.create({
    type,
    nonRetryable: true,
    message: `${where}: ${pgError.message} (SQLSTATE ${sqlState})`,
    cause: pgError,
  });
}

export function permanentFailure(type: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}
