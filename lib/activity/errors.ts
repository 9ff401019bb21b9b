import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { ErrorType, type ErrorTypeName } from '../workflow/errors';

// How activities sort what went wrong: worth retrying (a connection dropped, a server restarting or overloaded: the
// retry policy handles those) or not (a bad file, query, table, grant, URL or data: the run fails at once with a
// message naming it). The types they raise are listed in lib/workflow/errors.ts.

// SQLSTATE classes: connection, transaction rollback (deadlock, serialization), insufficient resources, operator
// intervention (a server shutting down; not 57014, a statement timeout, which the same query would hit again),
// system and internal errors.
const TRANSIENT_SQLSTATE = /^(08|40|53|57P|58|XX)/;
const MISSING_FILE_ERRNO = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EACCES', 'EPERM']);
const PERMANENT_S3 = new Set(['NoSuchKey', 'NoSuchBucket', 'NotFound', 'AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch']);
// node-postgres and undici report a lost connection without a code.
const LOST_CONNECTION = /Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect|socket hang up|other side closed|fetch failed/i;

interface ErrorShape {
  name?: string;
  code?: unknown;
  message?: string;
  cause?: unknown;
  $metadata?: { httpStatusCode?: number };
}

export function isTransient(error: unknown): boolean {
  const e = (error ?? {}) as ErrorShape;
  if (typeof e.code === 'string') {
    if (/^E[A-Z_]{3,}$/.test(e.code)) return !MISSING_FILE_ERRNO.has(e.code); // ECONNRESET, ETIMEDOUT, EPIPE, ...
    if (/^[0-9A-Z]{5}$/.test(e.code)) return TRANSIENT_SQLSTATE.test(e.code); // a Postgres error
  }
  if (e.$metadata) { // the AWS SDK (it has already retried what it could)
    if (e.name && PERMANENT_S3.has(e.name)) return false;
    const status = e.$metadata.httpStatusCode;
    return status === undefined || status >= 500 || status === 429 || status === 408;
  }
  if (LOST_CONNECTION.test(String(e.message ?? ''))) return true;
  return e.cause !== undefined && e.cause !== error && isTransient(e.cause);
}

// Connection class (08), a server shutting down or crashed (57P01-57P03), a lock held by an earlier attempt (55P03).
const CONNECTION_SQLSTATE = /^(08|57P0[1-3]|55P03)/;
const CONNECTION_ERRNO = /^(ECONNRESET|ECONNREFUSED|ECONNABORTED|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|ERR_SOCKET_CLOSED|ERR_STREAM_PREMATURE_CLOSE)$/;
// An S3 body cut off half-way says only "aborted"; ssh2 and the SDK say the rest.
const LOST_CONNECTION_MORE = /^aborted$|ECONNRESET|ECONNREFUSED|connection (?:lost|closed|refused)|No response from server|Timed out while waiting for handshake/i;

/** Did the step fail because a server could not be reached or went away (not because of what it was asked)? */
export function isConnectionError(error: unknown, depth = 0): boolean {
  const e = (error ?? {}) as ErrorShape;
  if (depth > 5) return false;
  if (typeof e.code === 'string' && (CONNECTION_ERRNO.test(e.code) || (/^[0-9A-Z]{5}$/.test(e.code) && CONNECTION_SQLSTATE.test(e.code)))) return true;
  if (e.$metadata && e.$metadata.httpStatusCode === undefined) return true; // the AWS SDK never got an answer
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return false;
  const message = String(e.message ?? '');
  if (LOST_CONNECTION.test(message) || LOST_CONNECTION_MORE.test(message)) return true;
  return e.cause !== undefined && e.cause !== error && isConnectionError(e.cause, depth + 1);
}

/**
 * A failure whose cause is a lost or refused connection, re-raised as a retryable `ConnectionError` with the original
 * message (credentials in it redacted), so the history and `etl run` say what happened; anything else unchanged.
 */
export function asConnectionFailure(error: unknown): unknown {
  // Not `instanceof Error`: errors made by Node's own streams may come from another realm (jest's sandbox).
  if (error instanceof TemporalFailure || typeof (error as ErrorShape)?.message !== 'string' || !isConnectionError(error)) return error;
  const { code, message } = error as ErrorShape;
  return ApplicationFailure.create({
    type: ErrorType.ConnectionError,
    message: `connection lost or refused: ${redactSecrets(message!)}${typeof code === 'string' ? ` (${code})` : ''}; retried by the step's policy`,
    nonRetryable: false,
  });
}

/** Hides passwords in URLs (`scheme://user:password@host`) and `password=...` pairs of any text. */
export function redactSecrets(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]+):[^@\s]*@/gi, '$1:***@')
    .replace(/\b(password|passwd|pwd|secret|token|api[_-]?key)=([^\s&;]+)/gi, '$1=***');
}

// SQLSTATE classes that no retry can fix: the person has to change a table, a grant, a URL or the data.
const PERMANENT: Record<string, ErrorTypeName> = {
  '42P01': ErrorType.SchemaError, // undefined_table
  '42703': ErrorType.SchemaError, // undefined_column
  '42804': ErrorType.SchemaError, // datatype_mismatch
  '42846': ErrorType.SchemaError, // cannot_coerce
  '42P10': ErrorType.SchemaError, // invalid_column_reference (no unique index for ON CONFLICT)
  '42883': ErrorType.SchemaError, // undefined_function (an older Postgres, a missing migration)
  '42601': ErrorType.SchemaError, // syntax_error: the same statement fails the same way at every attempt
  '3F000': ErrorType.SchemaError, // invalid_schema_name
  '42501': ErrorType.PermissionError, // insufficient_privilege
  '25006': ErrorType.PermissionError, // read_only_sql_transaction
  '28000': ErrorType.AuthenticationError, // invalid_authorization_specification
  '28P01': ErrorType.AuthenticationError, // invalid_password
  '3D000': ErrorType.ConfigurationError, // invalid_catalog_name (no such database)
  '21000': ErrorType.DataError, // cardinality_violation (duplicate keys in one batch)
  '23505': ErrorType.DataError, // unique_violation
  '23502': ErrorType.DataError, // not_null_violation
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
  const type = PERMANENT[sqlState] ?? (sqlState.startsWith('22') ? ErrorType.DataError : undefined);
  if (!type) return error;
  return ApplicationFailure.create({
    type,
    nonRetryable: true,
    message: `${where}: ${pgError.message} (SQLSTATE ${sqlState})`,
    cause: pgError,
  });
}

export function permanentFailure(type: ErrorTypeName, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}

/**
 * What an HTTP error status means for the step that got it: credentials a person must fix, a rate limit to wait
 * out (as long as the server asks), a server that may answer later, or a request the server will always refuse.
 */
export type HttpStatusKind = 'credentials' | 'rate-limited' | 'unavailable' | 'rejected';

export function httpStatusKind(status: number): HttpStatusKind {
  if (status === 401 || status === 403) return 'credentials';
  if (status === 429) return 'rate-limited';
  if (status >= 400 && status < 500 && status !== 408) return 'rejected';
  return 'unavailable';
}
