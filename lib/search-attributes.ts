import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Custom search attributes that let the Web UI's list be filtered, e.g. EtlPipeline = "incrementalSync" AND EtlOutcome = "failed".
export const PIPELINE = defineSearchAttributeKey('EtlPipeline', SearchAttributeType.KEYWORD);
export const OUTCOME = defineSearchAttributeKey('EtlOutcome', SearchAttributeType.KEYWORD);
export const ROWS_LOADED = defineSearchAttributeKey('EtlRowsLoaded', SearchAttributeType.INT);

export const customSearchAttributes = [PIPELINE, OUTCOME, ROWS_LOADED];

/** `Name=Type` pairs as `temporal server start-dev --search-attribute` wants them. */
export const searchAttributeFlags = (): string[] =>
  customSearchAttributes.map((key) => `${key.name}=${key.type === SearchAttributeType.INT ? 'Int' : 'Keyword'}`);
