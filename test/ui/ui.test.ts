// The web UI in a real browser (Debian's Chromium through playwright-core):
// first over recorded flows served by startUiServer in this process (every
// shape of the map, the filter bar, live rows, clicks), then on a real agent
// with real pods, a Service and a NetworkPolicy that denies one pair: the
// traffic the test generates shows up as the map's edges and the table's
// rows, and the filter bar narrows them.
//
// The agent runs inside its node's netns, so its --ui-serve-addr loopback is
// that netns's: the browser is started there too (a wrapper script nsenters
// before it execs chromium; playwright talks to it over a pipe).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { FlowRing } from '../../src/observe/flow-ring.ts';
import type { Flow, FlowEndpoint, FlowRecord } from '../../src/observe/flow-types.ts';
import { netnsPath, type Pod, type Topology } from '../../src/sandbox/topology.ts';
import { startUiServer, type UiFlowSource } from '../../src/ui/server.ts';
import { leftovers, makeTopology } from '../helpers/env.ts';

const CHROMIUM = '/usr/bin/chromium';
const PREFIX = 'mbu';
const SERVICE_CIDR = '10.96.24.0/24';
const CLUSTER_IP = '10.96.24.10';

async function launch(workDir: string, netns?: string): Promise<Browser> {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/setup.sh (it installs Debian's chromium)`);
  let executablePath = CHROMIUM;
  if (netns) {
    executablePath = path.join(workDir, 'chromium-in-netns.sh');
    fs.writeFileSync(executablePath, `#!/bin/sh\nexec nsenter --net=${netnsPath(netns)} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
  }
  return chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'], timeout: 60_000 });
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}${last ? ` (${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const edge = (page: Page, src: string, dst: string): Locator =>
  page.locator(`[data-testid="map-edge"][data-source="${src}"][data-destination="${dst}"]`);

async function edgeData(e: Locator): Promise<Record<string, string>> {
  return e.first().evaluate((n) => ({ ...(n as SVGElement).dataset }) as Record<string, string>);
}

interface Row {
  verdict: string;
  source: string;
  destination: string;
  cells: string[];
}

async function rows(page: Page): Promise<Row[]> {
  return page.locator('[data-testid="flow-row"]').evaluateAll((trs) =>
    trs.map((tr) => ({
      verdict: (tr as HTMLElement).dataset.verdict ?? '',
      source: (tr as HTMLElement).dataset.source ?? '',
      destination: (tr as HTMLElement).dataset.destination ?? '',
      cells: [...(tr as HTMLTableRowElement).cells].map((c) => c.textContent ?? ''),
    })),
  );
}

async function setFilter(page: Page, text: string): Promise<void> {
  await page.getByTestId('filter-input').fill(text);
  await page.getByTestId('filter-input').press('Enter');
}

describe('the page over recorded flows', () => {
  const ep = (ns: string, pod: string, app: string, identity: number): FlowEndpoint => ({ ID: identity - 250, identity, namespace: ns, pod_name: pod, labels: [`k8s:app=${app}`, `k8s:io.kubernetes.pod.namespace=${ns}`] });
  const FRONTEND = ep('demo', 'frontend', 'frontend', 300);
  const BACKEND1 = ep('demo', 'backend-1', 'backend', 301);
  const BACKEND2 = ep('demo', 'backend-2', 'backend', 301);
  const INTRUDER = ep('demo', 'intruder', 'intruder', 302);
  const WORLD: FlowEndpoint = { identity: 2, labels: ['reserved:world'] };
  const SVC = { namespace: 'demo', name: 'backend' };
  let seq = 0;
  const flow = (source: FlowEndpoint, destination: FlowEndpoint, verdict: Flow['verdict'], over: Partial<Flow> = {}): FlowRecord => {
    const time = new Date(Date.now() - 60_000 + ++seq * 10).toISOString();
    const reply = over.is_reply === true;
    const f: Flow = {
      time,
      uuid: `u${seq}`,
      verdict,
      ...(verdict === 'DROPPED' ? { drop_reason: 133, drop_reason_desc: 'POLICY_DENIED' } : {}),
      IP: { source: `10.224.0.${seq}`, destination: '10.224.0.200', ipVersion: 'IPv4' },
      l4: { TCP: reply ? { source_port: 8080, destination_port: 41000 } : { source_port: 41000 + seq, destination_port: 8080 } },
      source,
      destination,
      Type: 'L3_L4',
      node_name: 'recorded',
      event_type: verdict === 'DROPPED' ? { type: 1, sub_type: 133 } : { type: 4, sub_type: 4 },
      trace_observation_point: 'TO_ENDPOINT',
      traffic_direction: 'INGRESS',
      Summary: 'TCP Flags: SYN',
      ...over,
    };
    return { flow: f, node_name: 'recorded', time };
  };
  const ring = new FlowRing(1000);
  const push = (r: FlowRecord) => ring.push(r, Date.parse(r.time));
  const source: UiFlowSource = {
    nodeName: 'recorded',
    select: (q) => ring.select(q),
    subscribe: (l) => ring.subscribe(l),
    lost: (s, n) => ({ lost_events: { source: s, num_events_lost: String(n) }, node_name: 'recorded', time: new Date().toISOString() }),
  };
  let ui: { address: string; close(): Promise<void> };
  let browser: Browser;
  let page: Page;
  let dir: string;

  before(async () => {
    push(flow(FRONTEND, BACKEND1, 'FORWARDED', { destination_service: SVC }));
    push(flow(FRONTEND, BACKEND2, 'FORWARDED', { destination_service: SVC }));
    push(flow(FRONTEND, BACKEND1, 'FORWARDED', { destination_service: SVC, Summary: 'TCP Flags: ACK' }));
    push(flow(BACKEND1, FRONTEND, 'FORWARDED', { is_reply: true, source_service: SVC, Summary: 'TCP Flags: SYN, ACK' }));
    push(flow(INTRUDER, BACKEND1, 'DROPPED'));
    push(flow(INTRUDER, BACKEND1, 'DROPPED'));
    push(flow(BACKEND1, BACKEND2, 'DROPPED'));
    push(flow(WORLD, BACKEND1, 'AUDIT', { event_type: { type: 5 }, Summary: 'TCP Flags: SYN' }));
    const lostAt = new Date(Date.now() - 1000).toISOString();
    ring.push({ lost_events: { source: 'PERF_EVENT_RING_BUFFER', num_events_lost: '3' }, node_name: 'recorded', time: lostAt }, Date.parse(lostAt));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `${PREFIX}-page-`));
    ui = await startUiServer(source, '127.0.0.1:0');
    browser = await launch(dir);
    page = await browser.newPage();
    await page.goto(`http://${ui.address}/`);
  });

  after(async () => {
    await browser?.close();
    await ui?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the map: workloads, world, edges by verdict with drop counts, replies on their connection, a self loop', async () => {
    const fe = edge(page, 'demo/frontend', 'demo/backend');
    await fe.waitFor({ state: 'attached' });
    const d = await edgeData(fe);
    assert.deepEqual([d.forwarded, d.dropped, d.audit, d.port, d.protocol, d.service], ['4', '0', '0', '8080', 'TCP', 'demo/backend']);
    assert.equal(await edge(page, 'demo/backend', 'demo/frontend').count(), 0, 'the reply is no edge of its own');
    assert.equal(await fe.locator('path.forwarded').count(), 1);
    assert.equal(await fe.getByTestId('edge-drops').count(), 0, 'no drop label without drops');

    const denied = edge(page, 'demo/intruder', 'demo/backend');
    assert.deepEqual([(await edgeData(denied)).dropped, (await edgeData(denied)).forwarded], ['2', '0']);
    assert.equal(await denied.getByTestId('edge-drops').textContent(), '✕ 2 dropped');
    assert.equal(await denied.locator('path.dropped').count(), 1);
    assert.equal((await edgeData(edge(page, 'demo/backend', 'demo/backend'))).dropped, '1', 'backend-1 → backend-2: one workload, a loop');
    assert.equal((await edgeData(edge(page, 'reserved:world', 'demo/backend'))).audit, '1');
    assert.equal(await edge(page, 'reserved:world', 'demo/backend').locator('path.audit').count(), 1);

    const nodes = await page.getByTestId('map-node').evaluateAll((gs) => gs.map((g) => `${(g as SVGElement).dataset.id}:${(g as SVGElement).dataset.kind}`));
    assert.deepEqual(nodes.sort(), ['demo/backend:workload', 'demo/frontend:workload', 'demo/intruder:workload', 'reserved:world:reserved']);
    assert.ok(await page.getByRole('img', { name: /^demo\/intruder to demo\/backend, 8080\/TCP: 2 dropped \(drops: POLICY_DENIED 2\)$/ }).isVisible(), 'edges have accessible names');
    assert.equal(await page.getByTestId('edge-row').count(), 4, 'and the same edges as a table');
  });

  test('the table: one row per record, newest first, with type, verdict, drop reason, summary; lost events; the header counts', async () => {
    const all = await eventually('9 rows', async () => ((await rows(page)).length === 9 ? rows(page) : undefined));
    assert.equal(all[0]!.verdict, 'LOST');
    assert.match(all[0]!.cells.join(' '), /3 events lost \(PERF_EVENT_RING_BUFFER\)/);
    const world = all[1]!;
    assert.deepEqual([world.source, world.destination, world.verdict], ['world', 'demo/backend-1', 'AUDIT']);
    const drop = all.find((r) => r.source === 'demo/intruder')!;
    assert.deepEqual(drop.cells.slice(3), ['8080/TCP', 'drop', 'DROPPED', 'POLICY_DENIED', 'TCP Flags: SYN']);
    const reply = all.find((r) => r.source === 'demo/backend-1' && r.destination === 'demo/frontend')!;
    assert.equal(reply.cells[4], 'trace · to-endpoint · reply');
    assert.match(all.at(-1)!.cells[2]!, /demo\/backend-1.*service demo\/backend/);
    assert.equal(await page.getByTestId('count-forwarded').textContent(), '4');
    assert.equal(await page.getByTestId('count-dropped').textContent(), '3');
    assert.equal(await page.getByTestId('count-audit').textContent(), '1');
    assert.equal(await page.getByTestId('node-name').textContent(), 'recorded');
  });

  test('the filter bar takes the CLI flags and narrows the table and the map; a bad filter says why', async () => {
    await page.getByRole('button', { name: 'Dropped' }).click();
    assert.equal(await page.getByTestId('filter-input').inputValue(), 'verdict=DROPPED', 'the quick button writes the filter');
    const dropped = await eventually('only drops', async () => {
      const r = (await rows(page)).filter((x) => x.verdict !== 'LOST');
      return r.length === 3 && r.every((x) => x.verdict === 'DROPPED') ? r : undefined;
    });
    assert.equal(dropped.length, 3);
    assert.equal(await page.getByRole('button', { name: 'Dropped' }).getAttribute('aria-pressed'), 'true');
    await eventually('the map narrowed', async () => (await edge(page, 'demo/frontend', 'demo/backend').count()) === 0);
    assert.equal(await edge(page, 'demo/intruder', 'demo/backend').count(), 1);

    await setFilter(page, '-n demo --from-pod=demo/intruder');
    await eventually('only the intruder', async () => {
      const r = (await rows(page)).filter((x) => x.verdict !== 'LOST');
      return r.length === 2 && r.every((x) => x.source === 'demo/intruder');
    });
    assert.equal(await page.getByRole('button', { name: 'All' }).getAttribute('aria-pressed'), 'true');
    assert.match(page.url(), /#filter=/, 'the filter is kept in the address');

    await setFilter(page, '--bogus 1');
    await eventually('the server names the parameter', async () => (await page.getByTestId('filter-error').isVisible()) && /bogus/.test((await page.getByTestId('filter-error').textContent()) ?? ''));
    assert.equal(await page.getByRole('alert').count(), 1);
    await setFilter(page, 'frontend');
    assert.match((await page.getByTestId('filter-error').textContent()) ?? '', /'frontend' is not a filter/);

    await page.getByTestId('filter-clear').click();
    await eventually('all again', async () => (await rows(page)).length === 9);
    assert.equal(await page.getByTestId('filter-error').isVisible(), false);
  });

  test('live: a new flow appears at the top of the table and in the map without a reload', async () => {
    push(flow(INTRUDER, BACKEND2, 'DROPPED', { time: new Date().toISOString() }));
    const top = await eventually('the new row', async () => {
      const r = await rows(page);
      return r[0]?.destination === 'demo/backend-2' ? r[0] : undefined;
    });
    assert.deepEqual([top.source, top.verdict], ['demo/intruder', 'DROPPED']);
    await eventually('the edge counts it', async () => (await edgeData(edge(page, 'demo/intruder', 'demo/backend'))).dropped === '3');
    assert.equal(await edge(page, 'demo/intruder', 'demo/backend').getByTestId('edge-drops').textContent(), '✕ 3 dropped');
  });

  test('clicking an edge filters its flows; a row opens its JSON', async () => {
    await edge(page, 'demo/intruder', 'demo/backend').click();
    const value = await page.getByTestId('filter-input').inputValue();
    assert.equal(value, 'from-pod=demo/intruder to-pod=demo/backend-1 to-pod=demo/backend-2 to-port=8080');
    await eventually('only the edge\'s flows', async () => {
      const r = (await rows(page)).filter((x) => x.verdict !== 'LOST');
      return r.length === 3 && r.every((x) => x.source === 'demo/intruder');
    });
    const first = page.locator('[data-testid="flow-row"][data-source="demo/intruder"]').first();
    await first.click();
    assert.equal(await first.getAttribute('aria-expanded'), 'true');
    const json = JSON.parse((await page.locator('tr.detail pre').textContent())!) as FlowRecord;
    assert.ok('flow' in json && json.flow.source.pod_name === 'intruder');
  });
});

describe('the UI of a real agent', () => {
  let t: Topology;
  let browser: Browser | undefined;
  let page: Page;
  let frontend: Pod;
  let backend1: Pod;
  let intruder: Pod;

  const OBJECTS = [
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n',
    ...[['frontend', 'frontend'], ['backend-1', 'backend'], ['backend-2', 'backend'], ['intruder', 'intruder']].map(([name, app]) =>
      `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: demo, labels: {app: ${app}}}\nspec:\n  containers:\n  - name: app\n    ports: [{name: http, containerPort: 8080}]\n`),
    `apiVersion: v1\nkind: Service\nmetadata: {name: backend, namespace: demo}\nspec:\n  clusterIP: ${CLUSTER_IP}\n  selector: {app: backend}\n  ports: [{name: http, port: 80, targetPort: http}]\n`,
    'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: backend-ingress, namespace: demo}\nspec:\n  podSelector: {matchLabels: {app: backend}}\n  policyTypes: [Ingress]\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: frontend}}}]\n    ports: [{port: http, protocol: TCP}]\n',
  ].join('---\n');

  before(async () => {
    t = await makeTopology(PREFIX, '10.224.0.0/24', '198.18.24', [], { serviceCidr: SERVICE_CIDR });
    await t.startAgent(['--ui-serve-addr', '127.0.0.1:12000']);
    const pods = OBJECTS.split('---\n').filter((d) => !d.includes('kind: Service') && !d.includes('NetworkPolicy')).join('---\n');
    await t.client.post('/v1/apply', { manifest: pods, source: 'ui-test' });
    frontend = await t.addPod('demo', 'frontend', { server: true });
    backend1 = await t.addPod('demo', 'backend-1', { server: true });
    await t.addPod('demo', 'backend-2', { server: true });
    intruder = await t.addPod('demo', 'intruder', { server: true });
    await t.client.post('/v1/apply', { manifest: OBJECTS, source: 'ui-test' });
    // allowed: frontend → the Service (socket LB picks a backend); denied: intruder → backend-1
    for (let i = 0; i < 4; i++) assert.ok(await t.probe(frontend.netnsName, 'http', CLUSTER_IP, 80), 'frontend reaches the service');
    for (let i = 0; i < 2; i++) assert.ok(!(await t.probe(intruder.netnsName, 'http', backend1.ip, 8080, 700)), 'the policy denies the intruder');
    browser = await launch(t.spec.workDir, t.nodeNs);
    page = await browser.newPage();
    await page.goto('http://127.0.0.1:12000/');
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await t?.destroy();
    assert.deepEqual(await leftovers(PREFIX), []);
  });

  test('the service map shows frontend → backend forwarded (with the service) and intruder → backend dropped with its count', async () => {
    assert.equal(await page.getByTestId('node-name').textContent(), t.nodeNs);
    const fe = edge(page, 'demo/frontend', 'demo/backend');
    await fe.waitFor({ state: 'attached', timeout: 15_000 });
    const f = await edgeData(fe);
    assert.equal(f.port, '8080');
    assert.equal(f.protocol, 'TCP');
    assert.ok(Number(f.forwarded) > 0, JSON.stringify(f));
    assert.equal(f.dropped, '0');
    assert.equal(f.service, 'demo/backend');
    const denied = edge(page, 'demo/intruder', 'demo/backend');
    await denied.waitFor({ state: 'attached' });
    const d = await edgeData(denied);
    assert.ok(Number(d.dropped) >= 2, JSON.stringify(d));
    assert.equal(await denied.getByTestId('edge-drops').textContent(), `✕ ${d.dropped} dropped`);
    assert.equal(await edge(page, 'demo/backend', 'demo/frontend').count(), 0, 'replies are no edges');
  });

  test('the table has the traffic\'s rows: forwarded frontend → backends, POLICY_DENIED drops from the intruder', async () => {
    const all = await eventually('rows', async () => {
      const r = await rows(page);
      return r.some((x) => x.verdict === 'DROPPED') ? r : undefined;
    });
    const forwarded = all.filter((r) => r.source === 'demo/frontend' && r.verdict === 'FORWARDED');
    assert.ok(forwarded.length > 0, JSON.stringify(all.slice(0, 10)));
    assert.ok(forwarded.every((r) => /^demo\/backend-[12]$/.test(r.destination)), JSON.stringify(forwarded));
    assert.ok(forwarded.some((r) => r.cells[3] === '8080/TCP'));
    const drops = all.filter((r) => r.source === 'demo/intruder' && r.verdict === 'DROPPED');
    assert.ok(drops.length >= 2, JSON.stringify(all.slice(0, 10)));
    for (const r of drops) {
      assert.equal(r.destination, 'demo/backend-1');
      assert.equal(r.cells[3], '8080/TCP');
      assert.equal(r.cells[6], 'POLICY_DENIED');
    }
  });

  test('the filter bar narrows rows and map, and new traffic appears live', async () => {
    const before = (await rows(page)).length;
    await setFilter(page, '--verdict DROPPED');
    const dropped = await eventually('only drops', async () => {
      const r = (await rows(page)).filter((x) => x.verdict !== 'LOST');
      return r.length > 0 && r.every((x) => x.verdict === 'DROPPED') ? r : undefined;
    });
    assert.ok(dropped.length < before, `${dropped.length} of ${before}`);
    await eventually('the map narrowed to the drops', async () => (await edge(page, 'demo/frontend', 'demo/backend').count()) === 0);
    assert.equal(await edge(page, 'demo/intruder', 'demo/backend').count(), 1);

    await setFilter(page, '--from-pod demo/frontend');
    await eventually('only the frontend\'s flows', async () => {
      const r = (await rows(page)).filter((x) => x.verdict !== 'LOST');
      return r.length > 0 && r.every((x) => x.source === 'demo/frontend');
    });

    await setFilter(page, '--to-pod demo/backend-2 --verdict DROPPED');
    await eventually('nothing dropped at backend-2 yet', async () => (await rows(page)).filter((x) => x.verdict !== 'LOST').length === 0);
    const other = t.pods.get('demo/backend-2')!;
    assert.ok(!(await t.probe(intruder.netnsName, 'http', other.ip, 8080, 700)));
    const live = await eventually('the new drop, live', async () => {
      const r = (await rows(page)).filter((x) => x.verdict !== 'LOST');
      return r.length > 0 ? r : undefined;
    });
    assert.ok(live.every((r) => r.source === 'demo/intruder' && r.destination === 'demo/backend-2' && r.verdict === 'DROPPED'), JSON.stringify(live));
  });

  test('the same UI under /ui/ on the agent\'s socket', async () => {
    const get = (p: string) =>
      new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
        http.get({ socketPath: t.socket, path: p }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
        }).on('error', reject);
      });
    const pageRes = await get('/ui/');
    assert.equal(pageRes.status, 200);
    assert.match(pageRes.type, /^text\/html/);
    const map = await get('/ui/api/servicemap?verdict=DROPPED');
    assert.equal(map.status, 200, map.body);
    const m = JSON.parse(map.body) as { edges: Array<{ source: string; destination: string; dropped: number }> };
    assert.ok(m.edges.some((e) => e.source === 'demo/intruder' && e.destination === 'demo/backend' && e.dropped >= 3), map.body);
    const flows = await get('/ui/api/flows?from-pod=demo/intruder&last=2');
    assert.equal(flows.type, 'application/x-ndjson');
    assert.equal(flows.body.trim().split('\n').length, 2);
  });
});
