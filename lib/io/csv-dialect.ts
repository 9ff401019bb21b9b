// How a CSV file is written, read from its header line: the one place every pipeline detects a file's separator.
import { Readable } from 'node:stream';

export type CsvDelimiter = ',' | ';';

/** The header's fields split on `delimiter`, outside double quotes; quotes removed, `""` read as `"`. */
export function splitCsvLine(line: string, delimiter: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') field += line[++i];
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === delimiter) {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields.map((f) => f.trim());
}

/**
 * The separator of a CSV file from its header line: `;` when it splits the header into more columns than `,` does
 * (quoted names count as one column), else `,`. A Brazilian export (`;`, decimal commas) and a plain one both work.
 */
export function detectDelimiter(headerLine: string): CsvDelimiter {
  return splitCsvLine(headerLine, ';').length > splitCsvLine(headerLine, ',').length ? ';' : ',';
}

/** The first line of a file's bytes, without a BOM or the line break. */
export function firstLine(bytes: Buffer): string {
  const head = bytes.subarray(0, Math.min(bytes.length, 64 * 1024)).toString('utf8');
  return head.replace(/^\uFEFF/, '').split(/\r?\n/)[0];
}

/**
 * Reads a stream up to the end of its first line (or 64 KiB), detects the separator from it, and gives back a stream
 * of the whole file, the bytes already read included.
 */
export async function sniffDelimiter(body: Readable): Promise<{ delimiter: CsvDelimiter; body: Readable }> {
  const head: Buffer[] = [];
  let size = 0;
  const iterator = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  for (;;) {
    const { value, done } = await iterator.next();
    if (done) break;
    const chunk = Buffer.isBuffer(value) ? value : Buffer.from(value);
    head.push(chunk);
    size += chunk.length;
    if (chunk.includes(0x0a) || size >= 64 * 1024) break;
  }
  const delimiter = detectDelimiter(firstLine(Buffer.concat(head)));
  async function* all() {
    yield* head;
    for (;;) {
      const { value, done } = await iterator.next();
      if (done) return;
      yield value;
    }
  }
  return { delimiter, body: Readable.from(all()) };
}
