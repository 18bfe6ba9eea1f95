// A small client for the agent's REST API over its unix socket.
import type * as Http from 'node:http';
import { createRequire } from 'node:module';
import { MembraneError, type ErrorCode } from '../errors.ts';
import { DEFAULT_SOCKET, type ApiErrorBody } from './api-types.ts';

// require() instead of an ESM import: importing node:http as a module runs its
// lazy WebSocket getter, which loads undici and adds ~30 ms to every CNI call.
const http = createRequire(import.meta.url)('node:http') as typeof Http;

export interface ClientOptions {
  socketPath?: string;
  /** Milliseconds before a request is abandoned. */
  timeoutMs?: number;
}

export class AgentClient {
  readonly socketPath: string;
  readonly timeoutMs: number;
  constructor(opts: ClientOptions = {}) {
    this.socketPath = opts.socketPath ?? process.env.MEMBRANE_SOCKET ?? DEFAULT_SOCKET;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }
  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }
  delete<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('DELETE', path, body);
  }

  /**
   * A streaming GET: yields the response's lines as they arrive (NDJSON:
   * one JSON document per line) until the agent ends the response, the
   * signal aborts, or the consumer stops iterating (which closes the
   * connection, so the agent stops too). The timeout covers the wait for the
   * response's headers only: a followed stream may be quiet for long. A
   * non-2xx answer throws a MembraneError with the agent's code before the
   * first line.
   */
  async *lines(path: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<string, void, undefined> {
    const req = http.request({ socketPath: this.socketPath, method: 'GET', path, agent: false, headers: { accept: 'application/x-ndjson' } });
    const abort = () => req.destroy();
    opts.signal?.addEventListener('abort', abort, { once: true });
    try {
      const res = await new Promise<Http.IncomingMessage>((resolve, reject) => {
        const timer = setTimeout(() => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
        req.once('response', (r) => {
          clearTimeout(timer);
          resolve(r);
        });
        req.once('error', (err: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          reject(this.#unreachable(err));
        });
        req.end();
      });
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        const chunks: Buffer[] = [];
        for await (const c of res) chunks.push(c as Buffer);
        throw this.#apiError('GET', path, status, Buffer.concat(chunks).toString('utf8'));
      }
      res.setEncoding('utf8');
      let buf = '';
      try {
        for await (const chunk of res) {
          buf += chunk as string;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.length > 0) yield line;
          }
        }
      } catch (err) {
        if (opts.signal?.aborted) return;
        throw new MembraneError('AGENT_UNREACHABLE', `the agent closed the stream of ${path}: ${(err as Error).message}`, { cause: err });
      }
      if (opts.signal?.aborted) return;
      if (!res.complete) throw new MembraneError('AGENT_UNREACHABLE', `the agent closed the stream of ${path} before its end (did it stop?)`);
      if (buf.length > 0) yield buf;
    } finally {
      opts.signal?.removeEventListener('abort', abort);
      req.destroy();
    }
  }

  #unreachable(err: NodeJS.ErrnoException): MembraneError {
    const hint =
      err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
        ? ` — is the agent running? Start it with 'membrane agent' (socket ${this.socketPath})`
        : '';
    return new MembraneError('AGENT_UNREACHABLE', `cannot reach the agent: ${err.message}${hint}`, { cause: err });
  }

  #apiError(method: string, path: string, status: number, text: string): MembraneError {
    let parsed: unknown;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      // reported below with the text
    }
    const e = (parsed as ApiErrorBody | undefined)?.error;
    return new MembraneError((e?.code as ErrorCode) ?? 'INTERNAL', e?.message ?? `agent answered ${status} to ${method} ${path}: ${text.slice(0, 200)}`, {
      details: { status, ...(e?.details ?? {}) },
    });
  }

  /** Sends one request; a non-2xx answer becomes a MembraneError with the agent's code. */
  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<T>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers: payload
            ? { 'content-type': 'application/json', 'content-length': payload.length }
            : {},
          timeout: this.timeoutMs,
          // A fresh connection per request: the default agent keeps sockets
          // alive, and the agent's server closes idle ones, so a request
          // written on one that it just closed failed with EPIPE. A unix
          // socket connect costs microseconds.
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300) return reject(this.#apiError(method, path, status, text));
            let parsed: unknown = undefined;
            try {
              parsed = text.length > 0 ? JSON.parse(text) : undefined;
            } catch {
              // not JSON: undefined, as before
            }
            resolve(parsed as T);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => reject(this.#unreachable(err)));
      if (payload) req.write(payload);
      req.end();
    });
  }
}
