import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';

/** A payload in Temporal's JSON form, as the Web UI and `temporal` CLI send them: bytes in base64. */
export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

export interface CodecServerOptions {
  codec: PayloadCodec;
  port: number;
  host?: string;
  /** Web UI origins allowed to call from a browser (CORS), e.g. http://127.0.0.1:8233. */
  allowedOrigins: string[];
  /** When set, every request must carry `Authorization: Bearer <token>` (the UI sends the user's token). */
  authToken?: string;
}

export interface RunningCodecServer {
  url: string;
  stop(): Promise<void>;
}

const MAX_BODY_BYTES = 8 * 1024 * 1024;

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
  data: new Uint8Array(Buffer.from(p.data ?? '', 'base64')),
});

const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

/**
 * The Temporal Web UI's remote codec endpoint: POST /encode and /decode take and return `{ payloads: [...] }`.
 * Whoever can reach it (and holds the token, when one is set) sees decoded payloads; the server stores nothing.
 */
export async function startCodecServer(options: CodecServerOptions): Promise<RunningCodecServer> {
  const server = createServer((request, response) => {
    handle(options, request, response).catch((error: Error) => reply(response, 500, { message: error.message }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

async function handle(options: CodecServerOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const origin = request.headers.origin;
  if (origin && options.allowedOrigins.includes(origin)) {
    response.setHeader('Access-Control-Allow-Origin', origin);
    response.setHeader('Access-Control-Allow-Credentials', 'true');
    response.setHeader('Vary', 'Origin');
  }
  const route = new URL(request.url ?? '/', 'http://codec').pathname.replace(/\/+$/, '');
  if (request.method === 'OPTIONS') {
    // The preflight the browser sends before the UI's JSON POST with its X-Namespace (and Authorization) headers.
    response.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
    response.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
    response.setHeader('Access-Control-Max-Age', '600');
    response.writeHead(204).end();
    return;
  }
  if (route !== '/encode' && route !== '/decode') return reply(response, 404, { message: 'POST /encode or /decode' });
  if (request.method !== 'POST') return reply(response, 405, { message: `${route} takes POST` });
  if (options.authToken && request.headers.authorization !== `Bearer ${options.authToken}`) {
    return reply(response, 401, { message: 'missing or wrong Authorization: Bearer token' });
  }
  let body: { payloads?: unknown };
  try {
    body = JSON.parse(await readBody(request)) as { payloads?: unknown };
  } catch (error) {
    return reply(response, 400, { message: `the body must be JSON {"payloads": [...]}: ${(error as Error).message}` });
  }
  if (!Array.isArray(body.payloads)) return reply(response, 400, { message: 'the body must be JSON {"payloads": [...]}' });
  const payloads = (body.payloads as JsonPayload[]).map(fromJson);
  try {
    const result = route === '/encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
    reply(response, 200, { payloads: result.map(toJson) });
  } catch (error) {
    // An unknown key id or an altered payload: the caller's request cannot be served, the server is fine.
    reply(response, 422, { message: (error as Error).message });
  }
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error(`body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function reply(response: ServerResponse, status: number, body: object): void {
  if (response.headersSent) return;
  response.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}
