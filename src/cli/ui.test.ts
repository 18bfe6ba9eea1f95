import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startUiProxy } from './ui.ts';

test('the proxy forwards / to the agent socket as /ui/ and /metrics as itself, streaming bodies', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-ui-proxy-'));
  const socket = path.join(dir, 'agent.sock');
  const seen: string[] = [];
  const agent = http.createServer((req, res) => {
    seen.push(req.url!);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('part1 ');
    setTimeout(() => res.end(`of ${req.url}`), 20);
  });
  await new Promise<void>((r) => agent.listen(socket, r));
  const proxy = await startUiProxy(socket, '127.0.0.1:0');
  try {
    assert.equal(await (await fetch(`${proxy.url}api/flows?last=3`)).text(), 'part1 of /ui/api/flows?last=3');
    assert.equal(await (await fetch(`${proxy.url}metrics`)).text(), 'part1 of /metrics');
    assert.deepEqual(seen, ['/ui/api/flows?last=3', '/metrics']);
  } finally {
    await proxy.close();
    agent.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('without an agent the proxy answers 502 and says which socket did not answer', async () => {
  const proxy = await startUiProxy('/nonexistent/membrane.sock', '127.0.0.1:0');
  try {
    const r = await fetch(proxy.url);
    assert.equal(r.status, 502);
    assert.match(await r.text(), /the agent on \/nonexistent\/membrane\.sock did not answer/);
  } finally {
    await proxy.close();
  }
});

test('the proxy, like the agent\'s listeners, refuses requests for other hosts (DNS rebinding)', async () => {
  const proxy = await startUiProxy('/nonexistent/membrane.sock', '127.0.0.1:0');
  try {
    const u = new URL(proxy.url);
    const status = await new Promise<number>((resolve, reject) => {
      http.get({ host: u.hostname, port: Number(u.port), path: '/', headers: { host: 'evil.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(status, 421);
  } finally {
    await proxy.close();
  }
});
