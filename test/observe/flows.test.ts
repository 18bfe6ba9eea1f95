// Flows end to end: a real agent in a node netns, pods made by the CNI
// plugin, a Service over two backends and a NetworkPolicy that denies one
// pair; known allowed and denied connections (each from a fixed client
// port, so its flows can be told apart), then what `membrane observe -o
// json` shows: names, identities, labels, verdicts, drop reasons, ports,
// reply flags, directions, observation points, the service; every filter
// family; --last, --since and --follow; table and compact output;
// aggregation levels; and events lost when the agent stops reading.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { EndpointJSON } from '../../src/agent/api-types.ts';
import { run } from '../../src/endpoint/exec.ts';
import type { Flow, FlowRecord } from '../../src/observe/flow-types.ts';
import { NODE_BIN, REPO, sleep, type Pod, type Topology } from '../../src/sandbox/topology.ts';
import { leftovers, makeTopology } from '../helpers/env.ts';

const PREFIX = 'mbf';
const SERVICE_CIDR = '10.96.22.0/24';
const CLUSTER_IP = '10.96.22.10';
let t: Topology;
let frontend: Pod;
let backend1: Pod;
let backend2: Pod;
const ids: Record<string, number> = {};

const OBJECTS = `apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {team: flows}}
---
apiVersion: v1
kind: Pod
metadata: {name: frontend, namespace: demo, labels: {app: frontend}}
spec: {containers: [{name: app, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: backend-1, namespace: demo, labels: {app: backend}}
spec: {containers: [{name: app, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: backend-2, namespace: demo, labels: {app: backend}}
spec: {containers: [{name: app, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: demo}
spec:
  clusterIP: ${CLUSTER_IP}
  selector: {app: backend}
  ports: [{name: http, port: 80, targetPort: http}]
`;

/** The backends take HTTP from the frontend only: backend-1 → backend-2 is denied. */
const POLICY = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: backend-ingress, namespace: demo}
spec:
  podSelector: {matchLabels: {app: backend}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: frontend}}}]
    ports: [{port: http, protocol: TCP}]
`;

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(path.join(REPO, 'bin/membrane'), args, { allowFail: true, env: { ...(process.env as Record<string, string>), MEMBRANE_SOCKET: t.socket } });
}

/** `membrane observe -o json ARGS`: the records, parsed (every line must be one). */
async function observe(...args: string[]): Promise<FlowRecord[]> {
  const r = await cli('observe', '-o', 'json', ...args);
  assert.equal(r.code, 0, `observe ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as FlowRecord);
}

async function flows(...args: string[]): Promise<Flow[]> {
  return (await observe(...args)).flatMap((r) => ('flow' in r ? [r.flow] : []));
}

const port = (f: Flow): [number, number] => {
  const l4 = f.l4?.TCP ?? f.l4?.UDP;
  return l4 ? [l4.source_port, l4.destination_port] : [0, 0];
};
/** Flows of the connection from client port `cport` (both directions). */
const conn = (fs: readonly Flow[], cport: number) => fs.filter((f) => port(f).includes(cport));
const podOf = (e: Flow['source']) => (e.pod_name ? `${e.namespace}/${e.pod_name}` : undefined);

/**
 * One TCP connection from a pod with a fixed client port: an HTTP/1.0 GET
 * (ok: the answer's body), or a connect that times out (denied).
 */
async function connect(from: Pod, host: string, dport: number, cport: number, timeoutMs = 1500): Promise<{ ok: boolean; body?: string; error?: string }> {
  const script = `const net=require('node:net');const [h,p,l,t]=process.argv.slice(1);
let d='';const s=net.connect({host:h,port:+p,localPort:+l},()=>s.end('GET / HTTP/1.0\\r\\n\\r\\n'));
s.on('data',(c)=>d+=c);s.on('close',()=>{console.log(JSON.stringify({ok:d.startsWith('HTTP/1.1 200'),body:d.split('\\r\\n\\r\\n')[1]}));process.exit(0)});
s.on('error',(e)=>{console.log(JSON.stringify({ok:false,error:e.code}));process.exit(0)});
setTimeout(()=>{console.log(JSON.stringify({ok:false,error:'TIMEOUT'}));process.exit(0)},+t);`;
  const r = await t.inPod(from, NODE_BIN, '-e', script, host, String(dport), String(cport), String(timeoutMs));
  return JSON.parse(r.stdout.trim().split('\n').pop() || '{"ok":false,"error":"no output"}') as { ok: boolean; body?: string; error?: string };
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, ms = 8000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await sleep(200);
  }
}

/** `membrane observe -f ARGS` in the background: its output so far, and stop() (Ctrl-C) → exit code. */
function follow(...args: string[]) {
  const child = spawn(path.join(REPO, 'bin/membrane'), ['observe', '-f', ...args], { env: { ...process.env, MEMBRANE_SOCKET: t.socket }, stdio: ['ignore', 'pipe', 'pipe'] });
  const o = { out: '', err: '' };
  child.stdout.on('data', (c: Buffer) => (o.out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (o.err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return Object.assign(o, {
    stop: async () => {
      child.kill('SIGINT');
      return exited;
    },
  });
}

async function startAgent(aggregation: string): Promise<void> {
  await t.startAgent(['--monitor-aggregation', aggregation, '--prometheus-serve-addr', '', '--ui-serve-addr', '']);
}

// Client ports of the known connections.
const ALLOWED = 40001; // frontend → backend-1:8080, allowed
const DENIED = 40002; // backend-1 → backend-2:8080, denied by policy
const VIA_SERVICE = 40003; // frontend → ClusterIP:80 → a backend:8080
const LATER = 40004; // frontend → backend-2:8080, after a --since mark

let since = '';
let viaServiceBackend = '';

before(async () => {
  t = await makeTopology(PREFIX, '10.222.0.0/24', '198.18.22', [], { serviceCidr: SERVICE_CIDR });
  await startAgent('medium');
  const file = path.join(t.spec.workDir, 'objects.yaml');
  fs.writeFileSync(file, OBJECTS);
  const a = await cli('apply', '-f', file);
  assert.equal(a.code, 0, a.stderr);
  frontend = await t.addPod('demo', 'frontend', { server: true });
  backend1 = await t.addPod('demo', 'backend-1', { server: true });
  backend2 = await t.addPod('demo', 'backend-2', { server: true });
  fs.writeFileSync(path.join(t.spec.workDir, 'policy.yaml'), POLICY);
  const p = await cli('apply', '-f', path.join(t.spec.workDir, 'policy.yaml'));
  assert.equal(p.code, 0, p.stderr);
  for (const ep of await t.client.get<EndpointJSON[]>('/v1/endpoints')) {
    const name = `${ep.podNamespace}/${ep.podName}`;
    if (ep.identity !== undefined) ids[name] = ep.identity;
  }
  assert.ok(ids['demo/frontend']! >= 256 && ids['demo/backend-1']! >= 256, JSON.stringify(ids));

  const allowed = await connect(frontend, backend1.ip, 8080, ALLOWED);
  assert.ok(allowed.ok, JSON.stringify(allowed));
  const denied = await connect(backend1, backend2.ip, 8080, DENIED, 1500);
  assert.equal(denied.ok, false, 'the policy denies backend-1 → backend-2');
  const svc = await connect(frontend, CLUSTER_IP, 80, VIA_SERVICE);
  assert.ok(svc.ok, JSON.stringify(svc));
  viaServiceBackend = (JSON.parse(svc.body ?? '{}') as { pod?: string }).pod ?? '';
  assert.match(viaServiceBackend, /^demo\/backend-[12]$/);
  await sleep(300);
  since = new Date().toISOString();
  await sleep(300);
  const later = await connect(frontend, backend2.ip, 8080, LATER);
  assert.ok(later.ok, JSON.stringify(later));
  // The flows are in the buffer once the last connection's are.
  await eventually('the flows of the last connection', async () => ((await flows('--all', '--port', String(LATER))).length > 0 ? true : undefined));
});

after(async () => {
  try {
    if (t?.agent?.pid) process.kill(t.agent.pid, 'SIGCONT');
  } catch {
    // gone
  }
  await t?.destroy();
  assert.deepEqual(await leftovers(PREFIX), []);
});

describe('the flows of known connections', () => {
  test('an allowed connection: pods, namespaces, labels, identities, ports, verdicts, directions, replies', async () => {
    const all = conn(await flows('--all'), ALLOWED);
    // Exactly these, at the default aggregation (medium: delivery points only; per direction the
    // first packet and SYN/FIN/RST): the verdict of backend-1's ingress policy, the SYN, the
    // SYN-ACK (a reply: the frontend's egress connection), both FINs.
    const shape = (f: Flow) => [f.event_type.type === 5 ? 'policy-verdict' : f.event_type.type === 4 ? `trace:${f.trace_observation_point}` : 'drop', f.is_reply ?? '-', f.Summary, f.traffic_direction].join(' ');
    assert.deepEqual(all.map(shape).sort(), [
      'policy-verdict false TCP Flags: SYN INGRESS',
      'trace:TO_ENDPOINT false TCP Flags: SYN INGRESS',
      'trace:TO_ENDPOINT true TCP Flags: SYN, ACK EGRESS',
      'trace:TO_ENDPOINT false TCP Flags: ACK, FIN INGRESS',
      'trace:TO_ENDPOINT true TCP Flags: ACK, FIN EGRESS',
    ].sort());
    assert.ok(all.length > 0, 'flows of the allowed connection');
    for (const f of all) {
      assert.equal(f.Type, 'L3_L4');
      assert.equal(f.node_name, t.nodeNs);
      assert.equal(f.IP.ipVersion, 'IPv4');
      assert.ok(f.verdict === 'FORWARDED', `allowed: ${JSON.stringify(f)}`);
      assert.equal(f.drop_reason_desc, undefined);
      const forward = port(f)[0] === ALLOWED;
      const [client, server] = forward ? [f.source, f.destination] : [f.destination, f.source];
      assert.equal(podOf(client), 'demo/frontend');
      assert.equal(podOf(server), 'demo/backend-1');
      assert.equal(client.identity, ids['demo/frontend']);
      assert.equal(server.identity, ids['demo/backend-1']);
      assert.ok(client.labels?.includes('k8s:app=frontend'), JSON.stringify(client.labels));
      assert.ok(server.labels?.includes('k8s:app=backend'), JSON.stringify(server.labels));
      assert.ok(client.labels?.includes('k8s:io.kubernetes.pod.namespace=demo'));
      assert.deepEqual(client.labels, [...(client.labels ?? [])].sort(), 'labels sorted');
      assert.deepEqual(port(f), forward ? [ALLOWED, 8080] : [8080, ALLOWED]);
      assert.equal(f.IP.source, forward ? frontend.ip : backend1.ip);
      assert.ok(f.l4?.TCP, 'TCP');
      if (f.is_reply !== undefined) assert.equal(f.is_reply, !forward, `is_reply of ${JSON.stringify(f)}`);
    }
    // The policy verdict: backend-1's ingress policy allowed the first packet.
    const verdicts = all.filter((f) => f.event_type.type === 5);
    assert.equal(verdicts.length, 1, JSON.stringify(verdicts));
    const v = verdicts[0]!;
    assert.equal(v.traffic_direction, 'INGRESS');
    assert.equal(v.verdict, 'FORWARDED');
    assert.equal(v.l4?.TCP?.flags?.SYN, true);
    assert.ok(v.ingress_allowed_by?.some((p) => p.name === 'backend-ingress' && p.namespace === 'demo' && p.kind === 'NetworkPolicy'), JSON.stringify(v));
    // Trace flows (datapath trace events): the first packet delivered to backend-1, and the reply to the frontend.
    const traces = all.filter((f) => f.event_type.type === 4);
    if (traces.length > 0) {
      const syn = traces.find((f) => f.trace_observation_point === 'TO_ENDPOINT' && f.l4?.TCP?.flags?.SYN && !f.l4.TCP.flags.ACK);
      assert.ok(syn, `SYN to backend-1: ${JSON.stringify(traces.map((f) => [f.trace_observation_point, f.Summary, f.is_reply]))}`);
      assert.equal(syn.is_reply, false);
      assert.equal(syn.traffic_direction, 'INGRESS');
      assert.equal(syn.Summary, 'TCP Flags: SYN');
      const synAck = traces.find((f) => f.trace_observation_point === 'TO_ENDPOINT' && f.l4?.TCP?.flags?.SYN && f.l4.TCP.flags.ACK);
      assert.ok(synAck, 'SYN-ACK to the frontend');
      assert.equal(synAck.is_reply, true);
      assert.equal(synAck.Summary, 'TCP Flags: SYN, ACK');
      for (const f of traces.filter((x) => x.trace_observation_point === 'FROM_ENDPOINT' || x.trace_observation_point === 'TO_STACK')) {
        assert.equal(f.traffic_direction, 'EGRESS', JSON.stringify(f));
      }
    }
  });

  test('a denied connection: a policy drop with its reason, and the DENIED verdict, both at ingress', async () => {
    const all = conn(await flows('--all'), DENIED);
    const drops = all.filter((f) => f.event_type.type === 1);
    assert.ok(drops.length >= 1, JSON.stringify(all));
    for (const f of drops) {
      assert.equal(f.verdict, 'DROPPED');
      assert.equal(f.drop_reason_desc, 'POLICY_DENIED');
      assert.equal(f.drop_reason, 133);
      assert.equal(f.event_type.sub_type, 133);
      assert.equal(podOf(f.source), 'demo/backend-1');
      assert.equal(podOf(f.destination), 'demo/backend-2');
      assert.equal(f.source.identity, ids['demo/backend-1']);
      assert.equal(f.destination.identity, ids['demo/backend-2']);
      assert.deepEqual(port(f), [DENIED, 8080]);
      assert.equal(f.traffic_direction, 'INGRESS');
      assert.equal(f.Summary, 'TCP Flags: SYN');
      assert.notEqual(f.is_reply, true);
    }
    const verdicts = all.filter((f) => f.event_type.type === 5);
    assert.ok(verdicts.length >= 1);
    for (const v of verdicts) {
      assert.equal(v.verdict, 'DROPPED');
      assert.equal(v.traffic_direction, 'INGRESS');
      assert.equal(v.drop_reason_desc, 'POLICY_DENIED');
    }
    // Only these: per SYN (the first and its retransmissions) one verdict and one drop; nothing delivered.
    assert.equal(all.length, drops.length + verdicts.length, JSON.stringify(all));
    assert.equal(drops.length, verdicts.length);
  });

  test('a connection through the ClusterIP: the service is named, the backend that answered is the destination', async () => {
    const all = conn(await flows('--all'), VIA_SERVICE);
    assert.ok(all.length > 0);
    const forward = all.filter((f) => port(f)[0] === VIA_SERVICE);
    assert.ok(forward.length > 0);
    for (const f of forward) {
      assert.deepEqual(f.destination_service, { name: 'backend', namespace: 'demo' }, JSON.stringify(f));
      assert.equal(podOf(f.destination), viaServiceBackend, 'socket LB: the packets carry the backend');
      assert.equal(port(f)[1], 8080);
    }
    // The replies come from the service, as Hubble names them.
    const replies = all.filter((f) => f.is_reply === true);
    assert.ok(replies.length > 0);
    for (const f of replies) assert.deepEqual(f.source_service, { name: 'backend', namespace: 'demo' }, JSON.stringify(f));
    assert.equal(all.length, 5, 'as the direct connection: verdict, SYN, SYN-ACK, two FINs');
  });
});

describe('filters (each family; a flag repeated = or, different flags = and)', () => {
  let all: Flow[];
  before(async () => {
    all = await flows('--all');
  });
  /** Every flow the filter shows passes `pred`, and every flow of `all` that passes `pred` is shown. */
  async function same(args: string[], pred: (f: Flow) => boolean, minimum = 1) {
    const got = await flows('--all', ...args);
    for (const f of got) assert.ok(pred(f), `${args.join(' ')} showed ${JSON.stringify(f)}`);
    const want = all.filter(pred).map((f) => f.uuid);
    const shown = new Set(got.map((f) => f.uuid));
    for (const u of want) assert.ok(shown.has(u), `${args.join(' ')} missed flow ${u}`);
    assert.ok(got.length >= minimum, `${args.join(' ')}: ${got.length} flows`);
  }
  const isPod = (e: Flow['source'], ns: string, name: string) => e.namespace === ns && (e.pod_name ?? '').startsWith(name);

  test('pod: either side, from, to, repeated', async () => {
    await same(['--pod', 'demo/frontend'], (f) => isPod(f.source, 'demo', 'frontend') || isPod(f.destination, 'demo', 'frontend'));
    await same(['--from-pod', 'demo/backend-1'], (f) => isPod(f.source, 'demo', 'backend-1'));
    await same(['--to-pod', 'demo/backend-2'], (f) => isPod(f.destination, 'demo', 'backend-2'));
    await same(['--from-pod', 'demo/backend-1', '--from-pod', 'demo/backend-2'], (f) => isPod(f.source, 'demo', 'backend-1') || isPod(f.source, 'demo', 'backend-2'));
    await same(['--from-pod', 'demo/frontend', '--to-pod', 'demo/backend-2'], (f) => isPod(f.source, 'demo', 'frontend') && isPod(f.destination, 'demo', 'backend-2'));
  });

  test('namespace and label', async () => {
    await same(['-n', 'demo'], (f) => f.source.namespace === 'demo' || f.destination.namespace === 'demo');
    await same(['--from-namespace', 'demo', '--to-namespace', 'demo'], (f) => f.source.namespace === 'demo' && f.destination.namespace === 'demo');
    assert.deepEqual(await flows('--all', '--namespace', 'nope'), []);
    await same(['-l', 'app=frontend'], (f) => !!(f.source.labels?.includes('k8s:app=frontend') || f.destination.labels?.includes('k8s:app=frontend')));
    await same(['--from-label', 'k8s:app=backend'], (f) => !!f.source.labels?.includes('k8s:app=backend'));
    await same(['--to-label', 'app=backend'], (f) => !!f.destination.labels?.includes('k8s:app=backend'));
  });

  test('identity, ip, port, protocol', async () => {
    const fe = ids['demo/frontend']!;
    const be = ids['demo/backend-1']!;
    await same(['--identity', String(fe)], (f) => f.source.identity === fe || f.destination.identity === fe);
    await same(['--from-identity', String(be)], (f) => f.source.identity === be);
    await same(['--to-identity', String(be)], (f) => f.destination.identity === be);
    await same(['--ip', backend2.ip], (f) => f.IP.source === backend2.ip || f.IP.destination === backend2.ip);
    await same(['--from-ip', frontend.ip], (f) => f.IP.source === frontend.ip);
    await same(['--to-ip', `${backend1.ip}/32`], (f) => f.IP.destination === backend1.ip);
    await same(['--port', String(ALLOWED)], (f) => port(f).includes(ALLOWED));
    await same(['--to-port', '8080'], (f) => port(f)[1] === 8080);
    await same(['--from-port', '8080'], (f) => port(f)[0] === 8080, 0);
    await same(['--protocol', 'tcp'], (f) => !!f.l4?.TCP);
  });

  test('verdict, drop reason, type, direction, reply, service', async () => {
    await same(['--verdict', 'DROPPED'], (f) => f.verdict === 'DROPPED');
    await same(['--verdict', 'FORWARDED'], (f) => f.verdict === 'FORWARDED');
    await same(['--drop-reason', 'POLICY_DENIED'], (f) => f.drop_reason_desc === 'POLICY_DENIED');
    await same(['--type', 'drop'], (f) => f.event_type.type === 1);
    await same(['--type', 'policy-verdict'], (f) => f.event_type.type === 5);
    await same(['--type', 'drop', '--type', 'policy-verdict'], (f) => f.event_type.type === 1 || f.event_type.type === 5);
    await same(['--type', 'trace'], (f) => f.event_type.type === 4, 0);
    await same(['--type', 'trace:to-endpoint'], (f) => f.event_type.type === 4 && f.trace_observation_point === 'TO_ENDPOINT', 0);
    await same(['--traffic-direction', 'ingress'], (f) => f.traffic_direction === 'INGRESS');
    await same(['--is-reply', 'false'], (f) => f.is_reply === false);
    await same(['--is-reply', 'true'], (f) => f.is_reply === true, 0);
    await same(['--to-service', 'demo/backend'], (f) => f.destination_service?.name === 'backend' && f.destination_service.namespace === 'demo');
    await same(['--service', 'demo/backend'], (f) => f.destination_service?.name === 'backend' || f.source_service?.name === 'backend');
  });

  test('a bad filter names the flag and what to write; the agent is not asked', async () => {
    const r = await cli('observe', '--to-port', 'http');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: --to-port: .*see 'membrane observe --help'/);
    const v = await cli('observe', '--verdict', 'MAYBE');
    assert.equal(v.code, 1);
    assert.match(v.stderr, /--verdict: /);
    const o = await cli('observe', '-o', 'yaml');
    assert.match(o.stderr, /--output: 'yaml' is not an output format: write compact, json or table/);
  });
});

describe('selection and output', () => {
  test('--last N: the last N matching flows, oldest first; the default is 20', async () => {
    const all = await observe('--all');
    const last2 = await observe('--last', '2');
    assert.deepEqual(last2, all.slice(-2));
    const dflt = await observe();
    assert.deepEqual(dflt, all.slice(-20));
    const drops = await flows('--all', '--type', 'drop');
    assert.deepEqual(await flows('--last', '1', '--type', 'drop'), drops.slice(-1));
  });

  test('--since: flows at or after a time (RFC 3339) or a duration ago', async () => {
    const got = await flows('--since', since);
    assert.ok(got.length > 0);
    for (const f of got) assert.ok(Date.parse(f.time) >= Date.parse(since) - 1, `${f.time} < ${since}`);
    assert.ok(conn(got, LATER).length > 0, 'the later connection');
    assert.equal(conn(got, ALLOWED).length, 0, 'not the earlier ones');
    assert.equal((await flows('--since', '1h')).length, (await flows('--all')).length);
  });

  test('--follow: new flows arrive live; with --since the recent ones first; Ctrl-C ends it cleanly', async () => {
    const mark = new Date().toISOString();
    await sleep(20);
    // Before the CLI is surely connected: --since covers it (history, then live, no gap).
    const r1 = await connect(frontend, backend1.ip, 8080, 40010);
    assert.ok(r1.ok);
    const f = follow('-o', 'json', '--since', mark, '--port', '40010', '--port', '40011');
    try {
      await eventually('the first connection (history)', async () => (f.out.includes('"source_port":40010') ? true : undefined));
      assert.ok(!f.out.includes('40011'));
      // The stream is subscribed now: the second connection arrives live.
      const r2 = await connect(frontend, backend1.ip, 8080, 40011);
      assert.ok(r2.ok);
      await eventually('a live flow', async () => (f.out.includes('"source_port":40011') ? true : undefined));
      for (const line of f.out.trim().split('\n')) {
        const rec = JSON.parse(line) as FlowRecord;
        assert.ok('flow' in rec && (port(rec.flow).includes(40010) || port(rec.flow).includes(40011)), line);
      }
    } finally {
      assert.equal(await f.stop(), 0, f.err);
    }
  });

  test('-o compact and -o table show the same flows for people', async () => {
    const json = await flows('--port', String(DENIED), '--type', 'drop', '--last', '1');
    assert.equal(json.length, 1);
    const c = await cli('observe', '--port', String(DENIED), '--type', 'drop', '--last', '1');
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, new RegExp(`^\\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3}: demo/backend-1:${DENIED} \\(ID:${ids['demo/backend-1']}\\) (->|<>) demo/backend-2:8080 \\(ID:${ids['demo/backend-2']}\\) Policy denied DROPPED \\(TCP Flags: SYN\\)\\n$`));
    const tb = await cli('observe', '-o', 'table', '--port', String(DENIED), '--type', 'drop', '--last', '1');
    assert.equal(tb.code, 0, tb.stderr);
    const lines = tb.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^TIMESTAMP\s+SOURCE\s+DESTINATION\s+TYPE\s+VERDICT\s+SUMMARY$/);
    assert.match(lines[1]!, new RegExp(`demo/backend-1:${DENIED}\\s+demo/backend-2:8080\\s+Policy denied\\s+DROPPED\\s+TCP Flags: SYN$`));
  });
});

describe('aggregation levels end to end', () => {
  /** Trace flows of one HTTP exchange with the agent at `level`. */
  async function traceFlows(level: string, cport: number): Promise<Flow[]> {
    await t.stopAgent();
    await startAgent(level);
    const r = await connect(frontend, backend1.ip, 8080, cport);
    assert.ok(r.ok, JSON.stringify(r));
    await sleep(500);
    return (await flows('--all', '--port', String(cport))).filter((f) => f.event_type.type === 4);
  }

  test('none: every packet at every point; maximum: the first packet and SYN/FIN/RST per direction at delivery points', async (ctx) => {
    const none = await traceFlows('none', 40020);
    const max = await traceFlows('maximum', 40021);
    if (none.length === 0) return ctx.skip('no trace events from the datapath yet');
    const summaries = (fs: Flow[]) => fs.map((f) => `${f.trace_observation_point} ${f.is_reply ? '<-' : '->'} ${f.Summary}`);
    // none: an HTTP/1.0 exchange has ≥ 8 packets (handshake, request, answer, close), each seen leaving and arriving.
    assert.ok(none.length >= 16, summaries(none).join('\n'));
    assert.ok(none.some((f) => f.trace_observation_point === 'FROM_ENDPOINT'), 'receive points with none');
    assert.ok(none.some((f) => f.Summary === 'TCP Flags: ACK'), 'pure ACKs with none');
    // maximum: no receive points, no pure ACKs or data, at most SYN / SYN-ACK / FIN / RST per direction.
    assert.ok(max.length > 0 && max.length <= 6, summaries(max).join('\n'));
    assert.ok(!max.some((f) => f.trace_observation_point === 'FROM_ENDPOINT' || f.trace_observation_point === 'FROM_NETWORK'), summaries(max).join('\n'));
    assert.ok(!max.some((f) => f.Summary === 'TCP Flags: ACK'), summaries(max).join('\n'));
    assert.ok(max.some((f) => f.l4?.TCP?.flags?.SYN && !f.is_reply) && max.some((f) => f.l4?.TCP?.flags?.SYN && f.is_reply), 'SYN and SYN-ACK');
    assert.ok(max.length < none.length);
  });
});

describe('events lost while the agent does not read', () => {
  test('a stopped agent: the ring buffer overruns; after it resumes a following client gets a lost_events record, and the counter grew', async () => {
    await t.stopAgent();
    await startAgent('none');
    const status = async () => BigInt((await t.client.get<{ datapath: { eventsLost: string } }>('/v1/status')).datapath.eventsLost);
    const lostBefore = await status();
    // Followers whose filters match none of the burst: lost_events records pass every filter.
    const mark = new Date().toISOString();
    await sleep(20);
    const json = follow('-o', 'json', '--since', mark, '--port', '40030');
    const compact = follow('--since', mark, '--port', '40030');
    try {
      // Both are subscribed once they show a flow of this connection.
      assert.ok((await connect(frontend, backend1.ip, 8080, 40030)).ok);
      await eventually('the followers are connected', async () => (json.out.includes('40030') && compact.out.includes(':40030') ? true : undefined));
      const pid = t.agent!.pid!;
      process.kill(pid, 'SIGSTOP');
      try {
        // 150 000 denied UDP datagrams backend-1 → backend-2: with aggregation none a trace, a
        // policy verdict and a drop each, far more than the 4 MiB ring buffer holds.
        const burst = `const d=require('node:dgram').createSocket('udp4');const [h,n]=process.argv.slice(1);let i=0;const b=Buffer.alloc(1);
function go(){let k=0;while(i<+n&&k<500){d.send(b,9,h);i++;k++}if(i<+n)setImmediate(go);else setTimeout(()=>process.exit(0),200)}go();`;
        const r = await t.inPod(backend1, NODE_BIN, '-e', burst, backend2.ip, '150000');
        assert.equal(r.code, 0, r.stderr);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      const line = await eventually('a lost_events record', async () => json.out.split('\n').find((l) => l.includes('"lost_events"')), 15000);
      const rec = JSON.parse(line) as FlowRecord;
      assert.ok('lost_events' in rec);
      assert.equal(rec.lost_events.source, 'PERF_EVENT_RING_BUFFER');
      const n = BigInt(rec.lost_events.num_events_lost);
      assert.ok(n > 0n);
      assert.equal(rec.node_name, t.nodeNs);
      const lostAfter = await status();
      assert.ok(lostAfter > lostBefore, `eventsLost ${lostBefore} → ${lostAfter}`);
      assert.ok(n <= lostAfter - lostBefore, `${n} lost in the record, ${lostAfter - lostBefore} by the counter`);
      await eventually('EVENTS LOST in compact output', async () => (/EVENTS LOST: PERF_EVENT_RING_BUFFER \d+/.test(compact.out) ? true : undefined));
    } finally {
      assert.equal(await json.stop(), 0, json.err);
      assert.equal(await compact.stop(), 0, compact.err);
    }
  });
});
