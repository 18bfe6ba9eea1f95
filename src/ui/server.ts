// The web UI: a static page (index.html, app.js, style.css — plain JS and
// SVG, no build step) and its two data routes, over the agent's flow buffer:
//   api/flows?<filters>       NDJSON FlowRecords, the query of GET /v1/flows
//                             and `membrane observe` (follow=true streams)
//   api/servicemap?<filters>  JSON: the service map of the matching flows
//   api/info                  JSON: the node's name and the buffer's size
// Served on its own address (--ui-serve-addr) by startUiServer, and under
// /ui/ on the agent's unix socket by uiHandler; the page uses relative URLs
// only, so it works under either.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { listenHttp, type Listener } from '../net/listen-addr.ts';

import { CLIENT_QUEUE_RECORDS, NDJSON, runFlowStream, type FlowSource } from '../agent/flow-stream.ts';
import { writeStream } from '../agent/http.ts';
import { MembraneError } from '../errors.ts';
import { matchRecord, parseFlowQuery, type FlowQuery } from '../observe/filter.ts';
import type { RingSelect } from '../observe/flow-ring.ts';
import type { Flow } from '../observe/flow-types.ts';
import { buildServiceMap } from '../observe/servicemap.ts';

/**
 * What the UI reads: the agent's FlowPipeline (`agent.flows`) fits as it is —
 * select (buffered records, oldest first), subscribe (new records), lost (a
 * lost_events record for a slow client) and the node's name.
 */
export interface UiFlowSource extends FlowSource {
  readonly nodeName: string;
}

export interface UiHandlerOptions {
  /** Where the handler is mounted: '' (own server) or '/ui' (the agent's socket). */
  prefix?: string;
  /** Records a streaming client may have waiting before newer ones are counted as lost (default: as GET /v1/flows). */
  queueRecords?: number;
}

export type UiHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The static files: beside this module (src/ui/ when run from source, dist/ui/
 * when the build copied them), else the source tree's src/ui/ (dist/ui/server.js
 * without copies: the same relative path reaches it).
 */
export function assetDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  if (fs.existsSync(path.join(here, 'index.html'))) return here;
  return path.resolve(here, '../../src/ui');
}

/** Serves the UI; mount it on any http server (strips `prefix` from the path). */
export function uiHandler(source: UiFlowSource, opts: UiHandlerOptions = {}): UiHandler {
  const prefix = (opts.prefix ?? '').replace(/\/+$/, '');
  const queueRecords = opts.queueRecords ?? CLIENT_QUEUE_RECORDS;
  const dir = assetDir();
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://ui');
    if (prefix && url.pathname === prefix) {
      res.writeHead(301, { location: `${prefix}/${url.search}` });
      res.end();
      return;
    }
    if (!url.pathname.startsWith(`${prefix}/`)) return sendError(res, new MembraneError('NOT_FOUND', `no UI page ${url.pathname}`));
    const rel = url.pathname.slice(prefix.length + 1);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('the UI only answers GET\n');
      return;
    }
    try {
      if (rel === 'api/flows') return streamFlows(source, parseFlowQuery(url.searchParams), req, res, queueRecords);
      if (rel === 'api/servicemap') return sendJson(res, 200, serviceMap(source, parseFlowQuery(url.searchParams)));
      if (rel === 'api/info') return sendJson(res, 200, { node_name: source.nodeName });
      const file = rel === '' ? 'index.html' : rel;
      const type = ASSETS[file];
      if (!type) throw new MembraneError('NOT_FOUND', `no UI page /${rel}`);
      const body = fs.readFileSync(path.join(dir, file));
      res.writeHead(200, {
        'content-type': type,
        'content-length': body.length,
        'cache-control': 'no-cache',
        ...SECURITY_HEADERS,
        ...(file === 'index.html' ? { 'content-security-policy': CSP } : {}),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (err) {
      sendError(res, err);
    }
  };
}

/** The service map of the flows a query selects (its follow is ignored). */
export function serviceMap(source: UiFlowSource, q: FlowQuery): ReturnType<typeof buildServiceMap> & { node_name: string; flows: number } {
  const flows: Flow[] = [];
  for (const rec of source.select(selectOf(q))) if ('flow' in rec) flows.push(rec.flow);
  return { node_name: source.nodeName, flows: flows.length, ...buildServiceMap(flows) };
}

function selectOf(q: FlowQuery): RingSelect {
  return {
    ...(q.last !== undefined ? { last: q.last } : {}),
    ...(q.since !== undefined ? { since: q.since } : {}),
    ...(q.until !== undefined ? { until: q.until } : {}),
    match: (rec) => matchRecord(rec, q.filters),
  };
}

/** NDJSON through the same stream as GET /v1/flows (bounded queue per client, lost_events for a slow reader). */
function streamFlows(source: UiFlowSource, q: FlowQuery, req: http.IncomingMessage, res: http.ServerResponse, queueRecords: number): void {
  res.writeHead(200, { 'content-type': NDJSON, 'cache-control': 'no-store', ...SECURITY_HEADERS });
  if (req.method === 'HEAD') return void res.end();
  res.flushHeaders();
  void writeStream(res, (sink) => runFlowStream(source, q, sink, { queueRecords }));
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-cache', ...SECURITY_HEADERS });
  res.end(text);
}

function sendError(res: http.ServerResponse, err: unknown): void {
  const e = err instanceof MembraneError ? err : new MembraneError('INTERNAL', (err as Error)?.message ?? String(err), { cause: err });
  const status = e.code === 'INVALID_INPUT' ? 400 : e.code === 'NOT_FOUND' ? 404 : 500;
  if (res.headersSent) return void res.destroy(e);
  sendJson(res, status, { error: e.toJSON() });
}

/** Serves the UI on HOST:PORT (port 0: any free port). */
export function startUiServer(source: UiFlowSource, addr: string): Promise<Listener> {
  return listenHttp('--ui-serve-addr', addr, uiHandler(source), "give another HOST:PORT, or '' to turn the UI off");
}
