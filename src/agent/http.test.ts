import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InputError } from '../errors.ts';
import { AgentClient } from './client.ts';
import { Router, StreamResponse } from './http.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-http-'));
const socket = path.join(dir, 'api.sock');
const server = http.createServer();
const client = new AgentClient({ socketPath: socket, timeoutMs: 2000 });
let closedStreams = 0;
let ticks = 0;

before(async () => {
  const r = new Router();
  r.on('GET', '/v1/thing/:id', ({ params, query }) => ({ id: params.id, q: query.get('q'), big: 1n << 64n }));
  r.on('GET', '/v1/bad', () => {
    throw new InputError('q', 'must be a number');
  });
  r.on('GET', '/v1/lines', ({ query }) => {
    const n = Number(query.get('n') ?? 3);
    if (!Number.isInteger(n)) throw new InputError('n', 'must be an integer');
    return new StreamResponse('application/x-ndjson', async (sink) => {
      for (let i = 0; i < n; i++) {
        if (!sink.write(`${JSON.stringify({ i })}\n`)) await sink.drained();
        await sleep(1);
      }
    });
  });
  // Writes until the client goes away.
  r.on('GET', '/v1/forever', () =>
    new StreamResponse('application/x-ndjson', async (sink) => {
      sink.signal.addEventListener('abort', () => closedStreams++);
      while (!sink.signal.aborted) {
        sink.write(`${JSON.stringify({ tick: ticks++ })}\n`);
        await sleep(5);
      }
    }),
  );
  r.on('GET', '/v1/broken', () =>
    new StreamResponse('application/x-ndjson', (sink) => {
      sink.write('{"a":1}\n');
      throw new Error('mid-stream failure');
    }),
  );
  server.on('request', (req, res) => void r.handle(req, res));
  await new Promise<void>((resolve) => server.listen(socket, resolve));
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const l of it) out.push(l);
  return out;
}

test('JSON routes answer as before: params, query, u64 as decimal strings', async () => {
  assert.deepEqual(await client.get('/v1/thing/7?q=x'), { id: '7', q: 'x', big: '18446744073709551616' });
});

test('a typed error becomes 400 with its code and the field, for JSON and streaming clients alike', async () => {
  await assert.rejects(client.get('/v1/bad'), (e: Error & { code?: string }) => e.code === 'INVALID_INPUT' && /q: must be a number/.test(e.message));
  await assert.rejects(collect(client.lines('/v1/lines?n=x')), (e: Error & { code?: string }) => e.code === 'INVALID_INPUT' && /n: must be an integer/.test(e.message));
  await assert.rejects(collect(client.lines('/v1/nope')), (e: Error & { code?: string }) => e.code === 'NOT_FOUND');
});

test('a stream is delivered line by line with its content type, and ends', async () => {
  assert.deepEqual(await collect(client.lines('/v1/lines?n=5')), [0, 1, 2, 3, 4].map((i) => JSON.stringify({ i })));
  const res = await new Promise<http.IncomingMessage>((resolve) => http.get({ socketPath: socket, path: '/v1/lines?n=1' }, resolve));
  res.resume();
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'application/x-ndjson');
  assert.equal(res.headers['transfer-encoding'], 'chunked');
});

test('a client that stops reading closes the connection, and the handler sees it', async () => {
  const before = closedStreams;
  const got: string[] = [];
  for await (const l of client.lines('/v1/forever')) {
    got.push(l);
    if (got.length === 3) break;
  }
  assert.equal(got.length, 3);
  for (let i = 0; i < 100 && closedStreams === before; i++) await sleep(10);
  assert.equal(closedStreams, before + 1, 'the stream was aborted on the server');
});

test('an abort signal ends the iteration without an error', async () => {
  const ac = new AbortController();
  const got: string[] = [];
  setTimeout(() => ac.abort(), 60);
  for await (const l of client.lines('/v1/forever', { signal: ac.signal })) got.push(l);
  assert.ok(got.length > 0);
});

test('a handler that fails mid-stream cuts the response: the client gets an error, not a clean end', async () => {
  const got: string[] = [];
  await assert.rejects(
    (async () => {
      for await (const l of client.lines('/v1/broken')) got.push(l);
    })(),
    (e: Error & { code?: string }) => e.code === 'AGENT_UNREACHABLE' && /stream/.test(e.message),
  );
  assert.ok(got.length <= 1);
});

test('no agent: the streaming client says how to start one', async () => {
  const c = new AgentClient({ socketPath: path.join(dir, 'missing.sock') });
  await assert.rejects(collect(c.lines('/v1/lines')), /cannot reach the agent: .* is the agent running\?/);
});
