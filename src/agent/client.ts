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
            let parsed: unknown = undefined;
            try {
              parsed = text.length > 0 ? JSON.parse(text) : undefined;
            } catch {
              // fall through: reported below
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              resolve(parsed as T);
              return;
            }
            const e = (parsed as ApiErrorBody | undefined)?.error;
            reject(
              new MembraneError(
                (e?.code as ErrorCode) ?? 'INTERNAL',
                e?.message ?? `agent answered ${status} to ${method} ${path}: ${text.slice(0, 200)}`,
                { details: { status, ...(e?.details ?? {}) } },
              ),
            );
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        const hint =
          err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
            ? ` — is the agent running? Start it with 'membrane agent' (socket ${this.socketPath})`
            : '';
        reject(
          new MembraneError('AGENT_UNREACHABLE', `cannot reach the agent: ${err.message}${hint}`, {
            cause: err,
          }),
        );
      });
      if (payload) req.write(payload);
      req.end();
    });
  }
}
