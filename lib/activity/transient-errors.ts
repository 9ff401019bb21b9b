// Whether a failure is worth retrying: a connection dropped, a server restarting or overloaded. The retry policy
// handles those; anything else that goes wrong while reading a source (a bad file, a bad query, a missing object) is
// the input's fault and fails the run at once with a message naming it.

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
