// The number locale of a source (bundle-safe: the pipelines' input schemas use it). Rules and the parser:
// lib/io/numbers.ts, sql/shared/004_parse_number.sql, docs/architecture.md#numbers-in-files.
import { z } from 'zod';

export const NUMBER_LOCALES = ['pt-BR', 'en-US', 'auto'] as const;
export type NumberLocale = (typeof NUMBER_LOCALES)[number];
export const numberLocaleSchema = z.enum(NUMBER_LOCALES);
