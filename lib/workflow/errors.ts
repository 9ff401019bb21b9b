// Every ApplicationFailure type the pipelines raise, in one list. A type named in `PERMANENT_ERRORS` is never
// retried: the person has to change an input, a table, a grant, a credential or a file first.

export const ErrorType = {
  /** The workflow's input, a batch signal or a source file's content is not what the pipeline accepts. */
  InvalidInput: 'InvalidInput',
  /** A setting (environment, campaign file, source config) is missing or wrong. */
  ConfigurationError: 'ConfigurationError',
  /** A table, column, function, schema or index the run needs is missing or has the wrong type, or a statement does not parse. */
  SchemaError: 'SchemaError',
  /** The database user lacks a grant, or the connection is read-only. */
  PermissionError: 'PermissionError',
  /** A password, key or token was refused (Postgres, SFTP, Gemini). */
  AuthenticationError: 'AuthenticationError',
  /** Rows that cannot be stored as they are (duplicate keys in one batch, a NOT NULL column without a value). */
  DataError: 'DataError',
  /** The SFTP server's host key is not the pinned one. */
  HostKeyMismatch: 'HostKeyMismatch',
  /** A campaign's destination folder does not exist on the SFTP server. */
  FolderMissing: 'FolderMissing',
  /** A campaign's query is wrong (syntax, missing column). */
  CampaignQueryError: 'CampaignQueryError',
  /** A campaign's query ran past its statement timeout. */
  QueryTimeout: 'QueryTimeout',
  /** Gemini refused the request itself (400): retrying sends the same request. */
  BadRequest: 'BadRequest',
  /** Gemini answered 429: retried after the delay it asks for. */
  RateLimited: 'RateLimited',
  /** Gemini answered 5xx or timed out: retried by the policy. */
  GeminiUnavailable: 'GeminiUnavailable',
  /** The run found no input data at all (an empty or missing source): the message says how to get some. */
  NoInputData: 'NoInputData',
  /** A quality gate stopped the run before anything was loaded. */
  QualityGateFailed: 'QualityGateFailed',
  /** Some campaigns of a mailing slot failed (the others were delivered). */
  CampaignsFailed: 'CampaignsFailed',
  /**
   * A server (Postgres, S3, SFTP, an HTTP source) could not be reached or dropped the connection, or a staging lock
   * was held by an earlier attempt: retried by the policy, which rides out a restart of a few minutes.
   */
  ConnectionError: 'ConnectionError',
  /** A file changed while it was being read (another ETag): retried, and the retry reads the new version from the start. */
  SourceChanged: 'SourceChanged',
  /** A campaign file that cannot be used (reported in the run's outcome, not raised). */
  InvalidCampaign: 'InvalidCampaign',
} as const;

export type ErrorTypeName = (typeof ErrorType)[keyof typeof ErrorType];

/** What no retry can fix: every activity's retry policy stops at once on these. */
export const PERMANENT_ERRORS: ErrorTypeName[] = [
  ErrorType.InvalidInput, ErrorType.ConfigurationError, ErrorType.SchemaError, ErrorType.PermissionError,
  ErrorType.AuthenticationError, ErrorType.DataError, ErrorType.HostKeyMismatch, ErrorType.FolderMissing,
  ErrorType.CampaignQueryError, ErrorType.QueryTimeout, ErrorType.BadRequest,
];
