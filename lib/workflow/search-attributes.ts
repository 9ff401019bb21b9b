import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Custom search attributes that let the Web UI's list be filtered, e.g. EtlPipeline = "incrementalSync" AND EtlOutcome = "failed".
export const PIPELINE = defineSearchAttributeKey('EtlPipeline', SearchAttributeType.KEYWORD);
export const OUTCOME = defineSearchAttributeKey('EtlOutcome', SearchAttributeType.KEYWORD);
export const ROWS_LOADED = defineSearchAttributeKey('EtlRowsLoaded', SearchAttributeType.INT);
/** A-F, for pipelines with a quality gate (crmFeatures, salesWarehouse). */
export const QUALITY_GRADE = defineSearchAttributeKey('EtlQualityGrade', SearchAttributeType.KEYWORD);
/** Set on a run started by `etl rerun`: the workflow id it reruns. */
export const RERUN_OF = defineSearchAttributeKey('EtlRerunOf', SearchAttributeType.KEYWORD);

export const customSearchAttributes = [PIPELINE, OUTCOME, ROWS_LOADED, QUALITY_GRADE, RERUN_OF];

/** `Name=Type` pairs as `temporal server start-dev --search-attribute` wants them. */
export const searchAttributeFlags = (): string[] =>
  customSearchAttributes.map((key) => `${key.name}=${key.type === SearchAttributeType.INT ? 'Int' : 'Keyword'}`);
