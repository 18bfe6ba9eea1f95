// A tiny JSON router for the agent's REST API on its unix socket. A handler
// returns a value (sent as JSON) or a StreamResponse (sent as it is written,
// chunked, until the handler is done or the client goes away).
import type http from 'node:http';
import { MembraneError } from '../errors.ts';

export interface Request {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
}

export type Handler = (req: Request) => Promise<unknown> | unknown;

/** Where a streaming handler writes. */
export interface StreamSink {
  /** Queues text on the socket; false when the socket's buffer is full (await drained()). */
  write(text: string): boolean;
  /** Resolves when the socket's buffer has drained, or the client has gone. */
  drained(): Promise<void>;
  /** Aborted when the client closes the connection (or the server shuts down). */
  readonly signal: AbortSignal;
}

/**
 * A response that is written over time (NDJSON flows, logs). The status and
 * headers go out first; `run` writes and returns when the response is
 * complete (or the client has gone: `sink.signal`). An error thrown by `run`
 * after that cuts the connection, so the client sees a truncated response,
 * never a half-written line followed by a success.
 */
export class StreamResponse {
  readonly contentType: string;
  readonly run: (sink: StreamSink) => Promise<void> | void;
  readonly status: number;
  constructor(contentType: string, run: (sink: StreamSink) => Promise<void> | void, status = 200) {
    this.contentType = contentType;
    this.run = run;
    this.status = status;
  }
}

interface Route {
  method: string;
  parts: string[];
  handler: Handler;
}

const STATUS: Record<string, number> = {
  INVALID_INPUT: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  IPAM_EXHAUSTED: 507,
};

export class Router {
  readonly #routes: Route[] = [];

  on(method: string, pattern: string, handler: Handler): this {
    this.#routes.push({ method, parts: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    const segs = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    let status = 200;
    let payload: unknown;
    try {
      const match = this.#match(req.method ?? 'GET', segs);
      if (!match) throw new MembraneError('NOT_FOUND', `no API route ${req.method} ${url.pathname}`);
      const body = await readBody(req);
      payload = await match.route.handler({ method: req.method ?? 'GET', path: url.pathname, params: match.params, query: url.searchParams, body });
      if (payload instanceof StreamResponse) return await stream(payload, res);
    } catch (err) {
      const e = err instanceof MembraneError ? err : new MembraneError('INTERNAL', (err as Error).message ?? String(err), { cause: err });
      status = STATUS[e.code] ?? 500;
      payload = { error: e.toJSON() };
    }
    const text = JSON.stringify(payload ?? {}, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  #match(method: string, segs: string[]): { route: Route; params: Record<string, string> } | undefined {
    for (const route of this.#routes) {
      if (route.method !== method || route.parts.length !== segs.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      route.parts.forEach((p, i) => {
        if (p.startsWith(':')) params[p.slice(1)] = segs[i]!;
        else if (p !== segs[i]) ok = false;
      });
      if (ok) return { route, params };
    }
    return undefined;
  }
}

async function stream(s: StreamResponse, res: http.ServerResponse): Promise<void> {
  res.writeHead(s.status, { 'content-type': s.contentType, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.flushHeaders();
  await writeStream(res, s.run);
}

/**
 * Runs `run` on a sink over `res`, whose headers are sent: writes with
 * backpressure, aborts when the client goes, ends the body when `run`
 * returns and cuts the connection when it throws (a truncated stream must
 * not look complete).
 */
export async function writeStream(res: http.ServerResponse, run: (sink: StreamSink) => Promise<void> | void): Promise<void> {
  const ac = new AbortController();
  const gone = () => ac.abort();
  res.once('close', gone);
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
    waiters.clear();
  };
  res.on('drain', wake);
  ac.signal.addEventListener('abort', wake, { once: true });
  const sink: StreamSink = {
    write: (text) => (ac.signal.aborted ? false : res.write(text)),
    drained: () => (ac.signal.aborted || !res.writableNeedDrain ? Promise.resolve() : new Promise<void>((r) => waiters.add(r))),
    signal: ac.signal,
  };
  try {
    await run(sink);
    if (!ac.signal.aborted) res.end();
  } catch {
    res.destroy();
  } finally {
    res.off('close', gone);
    res.off('drain', wake);
    wake();
  }
}

async function readBody(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  if (chunks.length === 0) return undefined;
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new MembraneError('INVALID_INPUT', 'request body is not valid JSON');
  }
}
