import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Flow, FlowEndpoint, FlowRecord } from '../observe/flow-types.ts';
import { FlowRing } from '../observe/flow-ring.ts';
import { hostAllowed } from '../net/listen-addr.ts';
import { startUiServer, uiHandler, type UiFlowSource } from './server.ts';

const ep = (ns: string, pod: string, app: string, identity: number): FlowEndpoint => ({ ID: identity, identity, namespace: ns, pod_name: pod, labels: [`k8s:app=${app}`] });
const FRONTEND = ep('demo', 'frontend', 'frontend', 300);
const BACKEND = ep('demo', 'backend-1', 'backend', 301);
const INTRUDER = ep('demo', 'intruder', 'intruder', 302);

let seq = 0;
function rec(source: FlowEndpoint, destination: FlowEndpoint, verdict: Flow['verdict'], timeMs: number): FlowRecord {
  const time = new Date(timeMs).toISOString();
  const flow: Flow = {
    time,
    uuid: `u${++seq}`,
    verdict,
    ...(verdict === 'DROPPED' ? { drop_reason: 133, drop_reason_desc: 'POLICY_DENIED' } : {}),
    IP: { source: '10.224.0.1', destination: '10.224.0.2', ipVersion: 'IPv4' },
    l4: { TCP: { source_port: 40000 + seq, destination_port: 8080, flags: { SYN: true } } },
    source,
    destination,
    Type: 'L3_L4',
    node_name: 'n1',
    event_type: verdict === 'DROPPED' ? { type: 1, sub_type: 133 } : { type: 4, sub_type: 0 },
    traffic_direction: 'EGRESS',
    Summary: 'TCP Flags: SYN',
  };
  return { flow, node_name: 'n1', time };
}

class Source implements UiFlowSource {
  readonly nodeName = 'n1';
  readonly ring = new FlowRing(100);
  push(r: FlowRecord): void {
    this.ring.push(r, Date.parse(r.time));
  }
  select: UiFlowSource['select'] = (q) => this.ring.select(q);
  subscribe: UiFlowSource['subscribe'] = (l) => this.ring.subscribe(l);
  lost: UiFlowSource['lost'] = (source, count) => ({ lost_events: { source, num_events_lost: String(count) }, node_name: this.nodeName, time: new Date().toISOString() });
}

const src = new Source();
let ui: { address: string; close(): Promise<void> };
const T0 = Date.parse('2025-03-01T10:00:00Z');

before(async () => {
  src.push(rec(FRONTEND, BACKEND, 'FORWARDED', T0));
  src.push(rec(FRONTEND, BACKEND, 'FORWARDED', T0 + 1000));
  src.push(rec(INTRUDER, BACKEND, 'DROPPED', T0 + 2000));
  ui = await startUiServer(src, '127.0.0.1:0');
});
after(() => ui.close());

const url = (p: string) => `http://${ui.address}/${p}`;
const lines = (text: string) => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as FlowRecord);

test('the page and its assets, with a content security policy; nothing else', async () => {
  const page = await fetch(url(''));
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type')!, /^text\/html/);
  assert.match(page.headers.get('content-security-policy')!, /script-src 'self'/);
  const html = await page.text();
  for (const asset of ['app.js', 'style.css', 'favicon.svg']) {
    assert.ok(html.includes(`"${asset}"`), `the page links ${asset} relatively`);
    assert.equal((await fetch(url(asset))).status, 200, asset);
  }
  assert.match((await fetch(url('app.js'))).headers.get('content-type')!, /^text\/javascript/);
  assert.equal((await fetch(url('server.ts'))).status, 404);
  assert.equal((await fetch(url('../package.json'))).status, 404);
  assert.equal((await fetch(url('api/flows'), { method: 'POST' })).status, 405);
});

test('api/flows: NDJSON records of the CLI query, filtered; a bad parameter is a 400 naming it', async () => {
  const all = await fetch(url('api/flows'));
  assert.equal(all.headers.get('content-type'), 'application/x-ndjson');
  assert.deepEqual(lines(await all.text()).map((r) => ('flow' in r ? r.flow.verdict : 'lost')), ['FORWARDED', 'FORWARDED', 'DROPPED']);
  const dropped = lines(await (await fetch(url('api/flows?verdict=DROPPED'))).text());
  assert.deepEqual(dropped.map((r) => ('flow' in r ? r.flow.source.pod_name : '')), ['intruder']);
  assert.equal(lines(await (await fetch(url('api/flows?last=1'))).text()).length, 1);
  const bad = await fetch(url('api/flows?bogus=1'));
  assert.equal(bad.status, 400);
  const body = (await bad.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'INVALID_INPUT');
  assert.match(body.error.message, /bogus/);
});

test('api/flows?follow=true streams new matching records as they come', async () => {
  const ac = new AbortController();
  const resp = await fetch(url('api/flows?follow=true&pod=demo/intruder'), { signal: ac.signal });
  const reader = resp.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  const until = async (n: number) => {
    while (text.split('\n').length - 1 < n) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended after ${text}`);
      text += value;
    }
  };
  await until(1);
  src.push(rec(FRONTEND, BACKEND, 'FORWARDED', T0 + 3000)); // not the intruder: filtered out
  src.push(rec(INTRUDER, BACKEND, 'DROPPED', T0 + 4000));
  await until(2);
  ac.abort();
  const got = lines(text);
  assert.deepEqual(got.map((r) => ('flow' in r ? r.flow.time : '')), [new Date(T0 + 2000).toISOString(), new Date(T0 + 4000).toISOString()]);
});

test('api/servicemap: the map of the matching flows', async () => {
  const map = (await (await fetch(url('api/servicemap'))).json()) as { node_name: string; flows: number; edges: Array<{ id: string; forwarded: number; dropped: number }> };
  assert.equal(map.node_name, 'n1');
  assert.deepEqual(map.edges.map((e) => [e.id, e.forwarded, e.dropped]), [
    ['demo/frontend -> demo/backend 8080/TCP', 3, 0],
    ['demo/intruder -> demo/backend 8080/TCP', 0, 2],
  ]);
  const narrowed = (await (await fetch(url('api/servicemap?verdict=DROPPED'))).json()) as { flows: number; edges: unknown[] };
  assert.equal(narrowed.flows, 2);
  assert.equal(narrowed.edges.length, 1);
  assert.equal((await fetch(url('api/servicemap?verdict=MAYBE'))).status, 400);
});

test('on loopback, only requests for localhost or an address are answered (DNS rebinding)', async () => {
  assert.ok(hostAllowed('127.0.0.1:12000'));
  assert.ok(hostAllowed('localhost:12000'));
  assert.ok(hostAllowed('[::1]:12000'));
  assert.ok(!hostAllowed('evil.example:12000'));
  assert.ok(!hostAllowed(undefined));
  const [host, port] = ui.address.split(':');
  const status = await new Promise<number>((resolve, reject) => {
    http.get({ host, port: Number(port), path: '/', headers: { host: 'evil.example' } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    }).on('error', reject);
  });
  assert.equal(status, 421);
});

test('mounted under a prefix (the agent socket\'s /ui/): /ui redirects to /ui/, paths are stripped', async () => {
  const handler = uiHandler(src, { prefix: '/ui' });
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  try {
    const redirect = await fetch(`http://127.0.0.1:${port}/ui?x=1`, { redirect: 'manual' });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get('location'), '/ui/?x=1');
    assert.equal((await fetch(`http://127.0.0.1:${port}/ui/`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${port}/ui/api/info`).then((r) => r.json()) as { node_name: string }).node_name, 'n1');
    assert.equal((await fetch(`http://127.0.0.1:${port}/v1/flows`)).status, 404);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('a busy address is a CONFLICT that names it', async () => {
  await assert.rejects(startUiServer(src, ui.address), (err: Error & { code?: string }) => err.code === 'CONFLICT' && err.message.includes(ui.address));
  await assert.rejects(startUiServer(src, '12000'), /--ui-serve-addr/);
});
