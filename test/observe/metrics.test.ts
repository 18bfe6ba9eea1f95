// Prometheus metrics of a real agent: known traffic between real pods (and
// from an external client through a NodePort), then the exact values of the
// families, scraped from the agent's own listener inside its node netns
// (--prometheus-serve-addr) and from GET /metrics on its unix socket:
// policy drops from mb_metrics, flow and policy-verdict counters, new
// connections per service and backend, per-packet LB traffic matching the
// conntrack map, map pressure, and the agent's health families.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { ct4Entry, ct4Key } from '../../src/datapath/abi.ts';
import { BpfMap } from '../../src/datapath/map.ts';
import { sleep, type Pod, type Topology } from '../../src/sandbox/topology.ts';
import { leftovers, makeTopology } from '../helpers/env.ts';

const PREFIX = 'mbm';
const SERVICE_CIDR = '10.96.23.0/24';
const PROM_ADDR = '127.0.0.1:9962';
const N_SERVICE = 6; // client → ClusterIP web:80
const N_NODEPORT = 4; // world → node:30080
const K_ALLOWED = 3; // client → db:8080, allowed by db's policy
const M_DENIED = 4; // intruder → db:8080, denied by db's policy (one SYN each: the probe gives up before the SYN is retransmitted)

let t: Topology;
let client: Pod;
let intruder: Pod;
let db: Pod;
const web: Pod[] = [];
/** Answers per backend pod (shop/web-1 …) of the service connections. */
const answered = new Map<string, number>();

const pod = (name: string, labels: Record<string, string>) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: shop, labels: ${JSON.stringify(labels)}}
spec:
  containers:
  - name: app
    ports: [{name: http, containerPort: 8080}]
`;

const OBJECTS = [
  'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n',
  pod('client', { app: 'client' }),
  pod('intruder', { app: 'intruder' }),
  pod('db', { app: 'db' }),
  pod('web-1', { app: 'web' }),
  pod('web-2', { app: 'web' }),
  `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]
`,
  `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-client, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 8080}]
`,
].join('---\n');

/** One scrape: `name{labels}` → value. */
type Scrape = Map<string, number>;

function parse(text: string): Scrape {
  const m: Scrape = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

/** The agent's own listener, from inside its node netns. */
async function scrapeTcp(): Promise<{ text: string; contentType: string }> {
  const r = await t.inNode('curl', '-sS', '--max-time', '10', '-o', '-', '-w', '\n%{content_type}', `http://${PROM_ADDR}/metrics`);
  assert.equal(r.code, 0, r.stderr);
  const i = r.stdout.lastIndexOf('\n');
  return { text: r.stdout.slice(0, i), contentType: r.stdout.slice(i + 1) };
}

/** GET /metrics on the agent's unix socket. */
function scrapeUnix(): Promise<{ status: number; contentType: string; text: string }> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath: t.socket, path: '/metrics' }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), text }));
    }).on('error', reject);
  });
}

async function scrape(): Promise<Scrape> {
  return parse((await scrapeTcp()).text);
}

/** Sum of a family's series whose labels include all of `labels`. */
function sum(m: Scrape, family: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const [k, v] of m) {
    if (!k.startsWith(`${family}{`) && k !== family) continue;
    if (Object.entries(labels).every(([l, val]) => k.includes(`${l}="${val}"`))) total += v;
  }
  return total;
}

/** Scrapes until `cond` holds (the flow counters follow the ring buffer), then once more after a pause: the result must still hold. */
async function settled(what: string, cond: (m: Scrape) => boolean, ms = 10_000): Promise<Scrape> {
  const deadline = Date.now() + ms;
  let m = await scrape();
  while (!cond(m)) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}\n${[...m].filter(([k]) => !k.startsWith('membrane_agent_') && !k.startsWith('membrane_bpf_map_')).map(([k, v]) => `${k} ${v}`).join('\n')}`);
    await sleep(200);
    m = await scrape();
  }
  await sleep(1000);
  m = await scrape();
  assert.ok(cond(m), `${what}: still true a second later`);
  return m;
}

/** mb_ct4 entries as the kernel holds them. */
function conntrack(): Array<{ dir: number; packets: number; bytes: number; backend: number }> {
  const map = BpfMap.openPinned(path.join(t.spec.pinDir, 'mb_ct4'), ct4Key, ct4Entry);
  try {
    return [...map.entries()].map(([k, v]) => ({ dir: k.dir, packets: Number(v.packets), bytes: Number(v.bytes), backend: v.backend_id }));
  } finally {
    map.close();
  }
}

before(async () => {
  t = await makeTopology(PREFIX, '10.223.0.0/24', '198.18.23', [], { serviceCidr: SERVICE_CIDR });
  await t.startAgent(['--prometheus-serve-addr', PROM_ADDR]);
  await t.client.post('/v1/apply', { manifest: OBJECTS, source: 'objects.yaml' });
  client = await t.addPod('shop', 'client');
  intruder = await t.addPod('shop', 'intruder');
  db = await t.addPod('shop', 'db', { server: true });
  for (const name of ['web-1', 'web-2']) web.push(await t.addPod('shop', name, { server: true }));
  const svc = await t.client.get<{ clusterIP?: string }>('/v1/services/shop/web');
  const ip = svc.clusterIP ?? '';
  assert.ok(ip.startsWith('10.96.23.'), JSON.stringify(svc));
  // Programming is asynchronous: wait until the service answers (this connection is in the baseline scrape below).
  for (let i = 0; !(await t.probe(client.netnsName, 'http', ip, 80, 1000)); i++) {
    if (i > 50) assert.fail('the service never answered');
    await sleep(100);
  }
  await sleep(500);
});

after(async () => {
  await t?.destroy();
  assert.deepEqual(await leftovers(PREFIX), []);
});

describe('metrics of known traffic', () => {
  let base: Scrape;
  let clusterIP: string;

  before(async () => {
    clusterIP = (await t.client.get<{ clusterIP: string }>('/v1/services/shop/web')).clusterIP;
    base = await scrape();
    for (let i = 0; i < N_SERVICE; i++) {
      const r = await t.probeJson(client.netnsName, 'http', clusterIP, 80);
      assert.ok(r.ok, JSON.stringify(r));
      answered.set(r.pod!, (answered.get(r.pod!) ?? 0) + 1);
    }
    for (let i = 0; i < N_NODEPORT; i++) {
      const r = await t.probeJson(t.worldNs, 'http', t.nodeIp, 30080);
      assert.ok(r.ok, JSON.stringify(r));
      answered.set(r.pod!, (answered.get(r.pod!) ?? 0) + 1);
    }
    for (let i = 0; i < K_ALLOWED; i++) assert.ok(await t.probe(client.netnsName, 'http', db.ip, 8080), 'client → db is allowed');
    for (let i = 0; i < M_DENIED; i++) assert.equal(await t.probe(intruder.netnsName, 'tcp', db.ip, 8080, 700), false, 'intruder → db is denied');
  });

  test('drops by reason and direction come from mb_metrics: one POLICY_DENIED ingress drop per denied SYN', async () => {
    const drop = (m: Scrape) => sum(m, 'membrane_drop_count_total', { reason: 'POLICY_DENIED', direction: 'INGRESS' }) - sum(base, 'membrane_drop_count_total', { reason: 'POLICY_DENIED', direction: 'INGRESS' });
    const m = await settled(`${M_DENIED} policy drops`, (s) => drop(s) >= M_DENIED);
    assert.equal(drop(m), M_DENIED);
    assert.ok(sum(m, 'membrane_drop_bytes_total', { reason: 'POLICY_DENIED', direction: 'INGRESS' }) >= 40 * M_DENIED, 'bytes: at least a TCP/IP header each');
    assert.ok(sum(m, 'membrane_forward_count_total', { direction: 'EGRESS' }) - sum(base, 'membrane_forward_count_total', { direction: 'EGRESS' }) > 0);
    assert.ok(sum(m, 'membrane_forward_bytes_total', { direction: 'EGRESS' }) > 0);
    assert.equal(sum(m, 'membrane_lost_events_total', { source: 'PERF_EVENT_RING_BUFFER' }), 0, 'nothing lost at this rate');
  });

  test('flows processed: one Drop flow per denied SYN, and forwarded traces', async () => {
    const drops = (m: Scrape) => sum(m, 'membrane_flows_processed_total', { type: 'Drop', verdict: 'DROPPED', protocol: 'TCP' }) - sum(base, 'membrane_flows_processed_total', { type: 'Drop', verdict: 'DROPPED', protocol: 'TCP' });
    const m = await settled(`${M_DENIED} drop flows`, (s) => drops(s) >= M_DENIED);
    assert.equal(drops(m), M_DENIED);
    assert.ok(sum(m, 'membrane_flows_processed_total', { type: 'Trace', subtype: 'to-endpoint', verdict: 'FORWARDED', protocol: 'TCP' }) > 0);
    assert.ok(sum(m, 'membrane_flows_processed_total', { type: 'PolicyVerdict' }) >= K_ALLOWED + M_DENIED);
  });

  test('policy verdicts by direction, match and action: the allowed connections and the denied attempts', async () => {
    const delta = (m: Scrape, labels: Record<string, string>) => sum(m, 'membrane_policy_verdicts_total', labels) - sum(base, 'membrane_policy_verdicts_total', labels);
    const m = await settled('policy verdicts', (s) => delta(s, { direction: 'ingress', action: 'dropped' }) >= M_DENIED && delta(s, { direction: 'ingress', action: 'forwarded' }) >= K_ALLOWED);
    assert.equal(delta(m, { direction: 'ingress', action: 'dropped' }), M_DENIED);
    assert.equal(delta(m, { direction: 'ingress', match: 'l3-l4', action: 'forwarded' }), K_ALLOWED, 'client → db matched the rule with its port');
    assert.equal(delta(m, { direction: 'egress' }), 0, 'no pod has egress policy');
  });

  test('new connections per service and backend: each connection once, on the backend that answered it', async () => {
    const byBackend = (m: Scrape, p: Pod) => sum(m, 'membrane_service_connections_total', { namespace: 'shop', service: 'web', backend: `${p.ip}:8080` }) - sum(base, 'membrane_service_connections_total', { namespace: 'shop', service: 'web', backend: `${p.ip}:8080` });
    const total = N_SERVICE + N_NODEPORT;
    const m = await settled(`${total} service connections`, (s) => web.reduce((a, p) => a + byBackend(s, p), 0) >= total);
    for (const p of web) assert.equal(byBackend(m, p), answered.get(`shop/${p.name}`) ?? 0, `backend ${p.name}`);
    assert.equal(sum(m, 'membrane_service_connections_total', { backend: `${db.ip}:8080` }), 0, 'db is no service backend');
  });

  test('per-packet LB traffic (NodePort) equals the conntrack counters, by backend and direction', async () => {
    const m = await scrape();
    const ct = conntrack();
    assert.ok(ct.length >= 2 * N_NODEPORT, `two conntrack entries per NodePort connection: ${ct.length}`);
    for (const p of web) {
      const be = (await t.client.get<{ ports: Array<{ backends: Array<{ address: string; backendId?: number }> }> }>('/v1/services/shop/web')).ports[0]!.backends.find((b) => b.address === p.ip)!.backendId!;
      for (const [dir, name] of [[0, 'original'], [1, 'reply']] as const) {
        const want = ct.filter((e) => e.backend === be && e.dir === dir);
        const labels = { namespace: 'shop', service: 'web', backend: `${p.ip}:8080`, direction: name };
        assert.equal(sum(m, 'membrane_service_lb_packets_total', labels), want.reduce((a, e) => a + e.packets, 0), `${p.name} ${name} packets`);
        assert.equal(sum(m, 'membrane_service_lb_bytes_total', labels), want.reduce((a, e) => a + e.bytes, 0), `${p.name} ${name} bytes`);
      }
    }
    assert.ok(sum(m, 'membrane_service_lb_packets_total', { direction: 'original' }) >= 3 * N_NODEPORT, 'a TCP handshake and a request at least');
  });

  test('map pressure, entries and capacity of every pinned map; the agent health families', async () => {
    const m = await scrape();
    const ct = conntrack().length;
    assert.equal(m.get('membrane_bpf_map_entries{map_name="mb_ct4"}'), ct);
    const cap = m.get('membrane_bpf_map_capacity{map_name="mb_ct4"}')!;
    assert.ok(cap > 0);
    assert.equal(m.get('membrane_bpf_map_pressure{map_name="mb_ct4"}'), ct / cap);
    for (const name of ['mb_lxc', 'mb_metrics', 'mb_lb4_svc', 'mb_lb4_backend', 'mb_ct4', 'mb_ipcache', 'mb_policy', 'mb_pct4', 'mb_agg4']) {
      const p = m.get(`membrane_bpf_map_pressure{map_name="${name}"}`);
      assert.ok(p !== undefined && p >= 0 && p <= 1, `pressure of ${name}: ${p}`);
    }
    assert.ok(m.get('membrane_bpf_map_entries{map_name="mb_lxc"}')! >= 5, 'five pods');
    for (const name of ['membrane_agent_process_cpu_seconds_total', 'membrane_agent_process_resident_memory_bytes', 'membrane_agent_nodejs_eventloop_lag_seconds', 'membrane_agent_nodejs_heap_size_used_bytes']) {
      assert.ok((m.get(name) ?? -1) >= 0, name);
    }
    assert.ok(m.get('membrane_agent_process_resident_memory_bytes')! > 1 << 20);
  });

  test('the listener answers only /metrics, with the Prometheus text type; the unix socket serves the same families', async () => {
    const tcp = await scrapeTcp();
    assert.match(tcp.contentType, /^text\/plain; version=0\.0\.4/);
    assert.match(tcp.text, /^# TYPE membrane_drop_count_total counter$/m);
    const other = await t.inNode('curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${PROM_ADDR}/`);
    assert.equal(other.stdout, '404');
    const unix = await scrapeUnix();
    assert.equal(unix.status, 200, unix.text);
    assert.match(unix.contentType, /^text\/plain; version=0\.0\.4/);
    const a = parse(unix.text);
    const b = parse(tcp.text);
    assert.equal(sum(a, 'membrane_drop_count_total', { reason: 'POLICY_DENIED' }), sum(b, 'membrane_drop_count_total', { reason: 'POLICY_DENIED' }));
    assert.equal(sum(a, 'membrane_service_lb_packets_total'), sum(b, 'membrane_service_lb_packets_total'), 'one source: the LB counters are shared');
  });
});
