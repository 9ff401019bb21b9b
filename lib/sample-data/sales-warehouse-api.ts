// A small in-process REST API serving sales as paginated JSON (page, offset or cursor), for the demo, the tests and
// the benchmark: optionally behind a bearer token, and answering 429 with Retry-After to the first N requests.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SalesApiOptions {
  /** The bearer token the API asks for (none: open). */
  token?: string;
  /** How many of the first requests get a 429 with `Retry-After: 1`. */
  rateLimitFirst?: number;
}

export interface SalesApi {
  url: string;
  /** Requests served so far (429s included). */
  requests(): number;
  close(): Promise<void>;
}

/**
 * Serves `items` at /sales: ?page=&page_size=, ?offset=&limit=, or ?cursor=&limit= (next_cursor in the body);
 * `?updated_since=YYYY-MM-DDTHH:MM:SS` keeps the items whose `updated_at` is at or after it. `items` may grow meanwhile.
 */
export async function startSalesApi(items: unknown[], options: SalesApiOptions = {}): Promise<SalesApi> {
  let served = 0;
  const server: Server = createServer((req, res) => {
    served++;
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/sales') return void res.writeHead(404).end('{"error":"not found"}');
    if (options.token && req.headers.authorization !== `Bearer ${options.token}`) return void res.writeHead(401).end('{"error":"unauthorized"}');
    if (served <= (options.rateLimitFirst ?? 0)) return void res.writeHead(429, { 'retry-after': '1' }).end('{"error":"slow down"}');
    const q = (name: string, fallback: number) => Math.max(0, Number(url.searchParams.get(name) ?? fallback) || 0);
    let from: number;
    let size: number;
    if (url.searchParams.has('page')) {
      size = q('page_size', 100);
      from = (Math.max(q('page', 1), 1) - 1) * size;
    } else {
      size = q('limit', 100);
      from = url.searchParams.has('cursor') ? Number(Buffer.from(url.searchParams.get('cursor')!, 'base64url').toString()) : q('offset', 0);
    }
    const since = url.searchParams.get('updated_since');
    const all = since ? items.filter((item) => String((item as { updated_at?: unknown }).updated_at ?? '').replace(' ', 'T') >= since) : items;
    const data = all.slice(from, from + size);
    const next = from + size < all.length ? Buffer.from(String(from + size)).toString('base64url') : null;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data, total: all.length, next_cursor: next }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/sales`,
    requests: () => served,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
