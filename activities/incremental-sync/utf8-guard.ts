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
export function utf8Guard(columns: string[], invalid: InvalidUtf8Value[], keyColumns: string[] = []): Transform {
  let pending: Buffer = Buffer.alloc(0);
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
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const data = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      const end = data.lastIndexOf(NEWLINE) + 1;
      pending = Buffer.from(data.subarray(end));
      const complete = data.subarray(0, end);
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
      done(null, pending.length ? (isUtf8(pending) ? pending : repairLine(pending)) : undefined);
    },
  });
}
