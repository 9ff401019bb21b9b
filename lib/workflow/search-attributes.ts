import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { workflowInfo } from '@temporalio/workflow';

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

/** Temporal sets it on every run a schedule starts. */
const SCHEDULED_BY = defineSearchAttributeKey('TemporalScheduledById', SearchAttributeType.KEYWORD);

/**
 * Who started this run: the memo our clients set (`cli:<user>`, `api`), else the schedule that started it,
 * else the Web UI (which sets neither).
 */
export function triggeredBy(): string {
  const info = workflowInfo();
  const memo = info.memo?.triggeredBy;
  if (typeof memo === 'string') return memo;
  const scheduleId = info.typedSearchAttributes.get(SCHEDULED_BY);
  return scheduleId ? `schedule:${scheduleId}` : 'ui';
}
