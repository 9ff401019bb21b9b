import { isUtf8 } from 'node:buffer';
import { Transform } from 'node:stream';

export interface InvalidUtf8Value {
  column: string;
  key: string[];
  hex: string;
}

const NEWLINE = 0x0a;
const TAB = 0x09;
const NULL_FIELD = Buffer.from('\\N');

/**
 * Sits between COPY TO and COPY FROM (text format). A source in SQL_ASCII can hold bytes that are not
 * UTF-8, which a UTF-8 target rejects, failing the whole batch. Valid data passes through untouched
 * (one native check per chunk); an invalid field becomes NULL and is reported in `invalid`.
 * Written by hand because no CSV/COPY library repairs a single field without re-encoding every row.
 */
export function utf8Guard(columns: string[], invalid: InvalidUtf8Value[], keyColumns: string[] = []): Transform & { lastLine(): Buffer | undefined } {
  let pending: Buffer = Buffer.alloc(0);
  // The last complete line as the source sent it (before any repair): where the next keyset page starts.
  let lastLine: Buffer | undefined;
  const keepLastLine = (complete: Buffer) => {
    if (!complete.length) return;
    const start = complete.length < 2 ? 0 : complete.lastIndexOf(NEWLINE, complete.length - 2) + 1;
    lastLine = Buffer.from(complete.subarray(start, complete.length - 1));
  };
  const keyIndexes = keyColumns.map((k) => columns.indexOf(k));
  const repairLine = (line: Buffer): Buffer => {
    const fields: Buffer[] = [];
    let start = 0;
    for (let i = 0; i <= line.length; i++) {
      if (i === line.length || line[i] === TAB) {
        fields.push(line.subarray(start, i));
        start = i + 1;
      }
    }
    const key = keyIndexes.map((i) => fields[i]?.toString('latin1') ?? '');
    fields.forEach((field, i) => {
      if (!isUtf8(field)) {
        invalid.push({ column: columns[i] ?? `#${i + 1}`, key, hex: field.toString('hex') });
        fields[i] = NULL_FIELD;
      }
    });
    return Buffer.concat(fields.flatMap((field, i) => (i ? [Buffer.from([TAB]), field] : [field])));
  };
  const guard = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const data = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      const end = data.lastIndexOf(NEWLINE) + 1;
      pending = Buffer.from(data.subarray(end));
      const complete = data.subarray(0, end);
      keepLastLine(complete);
      if (isUtf8(complete)) return done(null, complete);
      const lines: Buffer[] = [];
      let start = 0;
      while (start < complete.length) {
        const stop = complete.indexOf(NEWLINE, start);
        const line = complete.subarray(start, stop);
        lines.push(isUtf8(line) ? line : repairLine(line), Buffer.from([NEWLINE]));
        start = stop + 1;
      }
      done(null, Buffer.concat(lines));
    },
    flush(done) {
      if (pending.length) lastLine = pending;
      done(null, pending.length ? (isUtf8(pending) ? pending : repairLine(pending)) : undefined);
    },
  });
  return Object.assign(guard, { lastLine: () => lastLine });
}

const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/**
 * The fields of one line of COPY text format, decoded to their bytes (null for \N). Written here because the
 * COPY libraries only move bytes; the format is small: tab-separated, backslash escapes, octal and hex bytes.
 */
export function copyTextFields(line: Buffer): Array<Buffer | null> {
  const fields: Array<Buffer | null> = [];
  let start = 0;
  for (let i = 0; i <= line.length; i++) {
    if (i < line.length && line[i] !== TAB) continue;
    const field = line.subarray(start, i);
    fields.push(field.equals(NULL_FIELD) ? null : decodeField(field));
    start = i + 1;
  }
  return fields;
}

function decodeField(text: Buffer): Buffer {
  if (!text.includes(0x5c)) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== 0x5c || i + 1 === text.length) { bytes.push(text[i]); continue; }
    const next = String.fromCharCode(text[++i]);
    const octal = /^[0-7]{1,3}/.exec(text.subarray(i, i + 3).toString('latin1'));
    const hex = next === 'x' ? /^[0-9a-fA-F]{1,2}/.exec(text.subarray(i + 1, i + 3).toString('latin1')) : null;
    if (octal) { bytes.push(parseInt(octal[0], 8) & 0xff); i += octal[0].length - 1; }
    else if (hex) { bytes.push(parseInt(hex[0], 16)); i += hex[0].length; }
    else bytes.push(ESCAPES[next] ? ESCAPES[next].charCodeAt(0) : text[i]);
  }
  return Buffer.from(bytes);
}
