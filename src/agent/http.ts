// A tiny JSON router for the agent's REST API on its unix socket.
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
