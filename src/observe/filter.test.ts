import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../errors.ts';
import { createEnricher } from './enrich.ts';
import { matchFlow, matchRecord, parseFlowQuery, parseDuration, parseLabelSelector, FLOW_QUERY_PARAMS } from './filter.ts';
import { buildFlow } from './flow.ts';
import type { Flow, FlowRecord } from './flow-types.ts';
import { fakeSources, rawEvent } from './testing.ts';

const enricher = createEnricher(fakeSources());
function flow(over: Parameters<typeof rawEvent>[0] = {}): Flow {
  const e = rawEvent(over);
  return buildFlow(e, enricher.context(e), { time: 't', uuid: 'u', node_name: 'n' });
}
/** frontend → backend-1:80 SYN at from-endpoint (EGRESS); its reply; a drop from the world; an ICMP to the host. */
const req = flow({ flags: 1 | 4 });
const reply = flow({ saddr: '10.222.0.11', daddr: '10.222.0.10', sport: 80, dport: 41234, tcp_flags: 0x12, subtype: 2, flags: 1 | 2 });
const drop = flow({ type: 1, subtype: 9, saddr: '8.8.8.8', daddr: '10.222.0.11', sport: 5000, dport: 8080, dir: 2 });
const ping = flow({ proto: 1, sport: 0, dport: 8 << 8, daddr: '198.18.22.1', subtype: 3 });
const viaService = flow({ daddr: '10.222.0.11', dport: 8080, flags: 1 | 4 });
const all = [req, reply, drop, ping, viaService];

function pick(query: string): number[] {
  const q = parseFlowQuery(new URLSearchParams(query), Date.UTC(2024, 0, 1));
  return all.flatMap((f, i) => (matchFlow(f, q.filters) ? [i] : []));
}

test('no filter: everything; control parameters', () => {
  assert.deepEqual(pick(''), [0, 1, 2, 3, 4]);
  assert.deepEqual(parseFlowQuery(new URLSearchParams('')), { filters: [], follow: false });
  const now = Date.UTC(2024, 0, 1, 12);
  assert.deepEqual(parseFlowQuery(new URLSearchParams('last=20&follow=true&since=5m&until=2024-01-01T11:59:00.123456789Z'), now), {
    filters: [], follow: true, last: 20, since: now - 300_000, until: Date.UTC(2024, 0, 1, 11, 59, 0, 123),
  });
  assert.equal(parseFlowQuery(new URLSearchParams('follow')).follow, true);
  assert.equal(parseFlowQuery(new URLSearchParams('all=true')).last, undefined);
  assert.equal(parseFlowQuery(new URLSearchParams('since=2024-01-01T10:00:00%2B02:00')).since, Date.UTC(2024, 0, 1, 8));
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('5'), undefined);
});

test('errors name the parameter', () => {
  const bad: [string, string][] = [
    ['last=x', 'last'], ['last=1&last=2', 'last'], ['since=yesterday', 'since'], ['follow=maybe', 'follow'], ['all=1&last=3', 'all'],
    ['pod=', 'pod'], ['to-pod=a/b/c', 'to-pod'], ['namespace=Demo', 'namespace'], ['from-label=a=b,', 'from-label'], ['identity=bogus', 'identity'],
    ['ip=10.0.0.300', 'ip'], ['to-ip=10.0.0.0/33', 'to-ip'], ['port=70000', 'port'], ['protocol=http', 'protocol'], ['verdict=ok', 'verdict'],
    ['drop-reason=9999', 'drop-reason'], ['type=l7', 'type'], ['type=trace:to-moon', 'type'], ['traffic-direction=up', 'traffic-direction'],
    ['is-reply=perhaps', 'is-reply'], ['podd=x', 'podd'],
  ];
  for (const [query, param] of bad) {
    assert.throws(() => parseFlowQuery(new URLSearchParams(query)), (err: unknown) => err instanceof InputError && err.field === param, query);
  }
});

test('either-side flags match source or destination; from-/to- only their side', () => {
  assert.deepEqual(pick('pod=demo/frontend'), [0, 1, 3, 4]);
  assert.deepEqual(pick('from-pod=demo/frontend'), [0, 3, 4]);
  assert.deepEqual(pick('to-pod=demo/frontend'), [1]);
  assert.deepEqual(pick('pod=demo/backend'), [0, 1, 2, 4], 'a pod name is a prefix');
  assert.deepEqual(pick('pod=demo/'), [0, 1, 2, 3, 4], 'NS/ is every pod of the namespace');
  assert.deepEqual(pick('pod=frontend'), [], 'no namespace: default');
  assert.deepEqual(pick('namespace=demo&pod=frontend'), [0, 1, 3, 4], 'no namespace: the namespace parameter’s');
  assert.deepEqual(pick('namespace=demo'), [0, 1, 2, 3, 4]);
  assert.deepEqual(pick('from-namespace=demo'), [0, 1, 3, 4]);
  assert.deepEqual(pick('identity=world'), [2]);
  assert.deepEqual(pick('identity=reserved:host'), [3]);
  assert.deepEqual(pick('to-identity=301'), [0, 2, 4]);
  assert.deepEqual(pick('ip=8.8.8.0/24'), [2]);
  assert.deepEqual(pick('from-ip=10.222.0.10'), [0, 3, 4]);
  assert.deepEqual(pick('port=80'), [0, 1]);
  assert.deepEqual(pick('to-port=80'), [0]);
  assert.deepEqual(pick('from-port=80'), [1]);
  assert.deepEqual(pick('service=demo/backend'), [2, 4]);
  assert.deepEqual(pick('to-service=demo/backend'), [2, 4]);
  assert.deepEqual(pick('from-service=demo/backend'), []);
  assert.deepEqual(pick('to-service=demo/'), [2, 4]);
});

test('repeated = OR, different = AND', () => {
  assert.deepEqual(pick('from-ip=8.8.8.8&from-ip=10.222.0.11'), [1, 2]);
  assert.deepEqual(pick('from-ip=8.8.8.8&from-ip=10.222.0.11&verdict=DROPPED'), [2]);
  assert.deepEqual(pick('verdict=forwarded&verdict=dropped'), [0, 1, 2, 3, 4]);
  assert.deepEqual(pick('from-pod=demo/frontend&to-pod=demo/backend-1'), [0, 4]);
  assert.deepEqual(pick('pod=demo/frontend&protocol=tcp&is-reply=false'), [0, 4]);
});

test('labels: selectors with or without source, exists, absent, in, notin, several requirements', () => {
  assert.deepEqual(pick('label=app=frontend'), [0, 1, 3, 4]);
  assert.deepEqual(pick('label=k8s:app=frontend'), [0, 1, 3, 4]);
  assert.deepEqual(pick('label=reserved:app=frontend'), []);
  assert.deepEqual(pick('from-label=reserved:world'), [2]);
  assert.deepEqual(pick('to-label=reserved:host'), [3]);
  assert.deepEqual(pick('from-label=app'), [0, 1, 3, 4]);
  assert.deepEqual(pick('from-label=!app'), [2]);
  assert.deepEqual(pick('to-label=app in (backend, db)'), [0, 2, 4]);
  assert.deepEqual(pick('to-label=app notin (backend)'), [1, 3]);
  assert.deepEqual(pick('to-label=app!=backend'), [1, 3]);
  assert.deepEqual(pick('to-label=app=backend,io.kubernetes.pod.namespace=demo'), [0, 2, 4]);
  assert.deepEqual(pick('to-label=app=backend,io.kubernetes.pod.namespace=prod'), []);
  assert.deepEqual(pick('from-label=app=frontend&from-label=app=backend'), [0, 1, 3, 4]);
  assert.deepEqual(parseLabelSelector('label', 'k8s:app in (a,b),!x'), [
    { source: 'k8s', key: 'app', op: 'in', values: ['a', 'b'] },
    { key: 'x', op: 'absent', values: [] },
  ]);
});

test('protocol, verdict, drop reason, type, direction, reply', () => {
  assert.deepEqual(pick('protocol=icmp'), [3]);
  assert.deepEqual(pick('protocol=TCP&protocol=udp'), [0, 1, 2, 4]);
  assert.deepEqual(pick('verdict=DROPPED'), [2]);
  assert.deepEqual(pick('drop-reason=policy_denied'), [2]);
  assert.deepEqual(pick('drop-reason=133'), [2]);
  assert.deepEqual(pick('drop-reason=POLICY_DENY'), []);
  assert.deepEqual(pick('type=drop'), [2]);
  assert.deepEqual(pick('type=trace'), [0, 1, 3, 4]);
  assert.deepEqual(pick('type=trace:to-endpoint'), [1]);
  assert.deepEqual(pick('type=trace:from-endpoint&type=trace:to-stack'), [0, 3, 4]);
  assert.deepEqual(pick('type=drop:POLICY_DENIED'), [2]);
  assert.deepEqual(pick('type=drop:133'), [2]);
  assert.deepEqual(pick('type=policy-verdict'), []);
  assert.deepEqual(pick('traffic-direction=ingress'), [2], 'a reply arriving at the client is its EGRESS connection');
  assert.deepEqual(pick('traffic-direction=EGRESS'), [0, 1, 3, 4]);
  assert.deepEqual(pick('is-reply=true'), [1]);
  assert.deepEqual(pick('is-reply=false'), [0, 4], 'unknown reply state matches neither');
});

test('lost_events records pass every filter; the parameter list', () => {
  const lost: FlowRecord = { lost_events: { source: 'PERF_EVENT_RING_BUFFER', num_events_lost: '3' }, node_name: 'n', time: 't' };
  const q = parseFlowQuery(new URLSearchParams('verdict=DROPPED'));
  assert.equal(matchRecord(lost, q.filters), true);
  assert.equal(matchRecord({ flow: req, node_name: 'n', time: 't' }, q.filters), false);
  for (const p of ['pod', 'from-pod', 'to-pod', 'namespace', 'label', 'to-label', 'identity', 'ip', 'port', 'to-port', 'protocol', 'verdict', 'drop-reason', 'type', 'service', 'to-service', 'from-service', 'traffic-direction', 'is-reply', 'last', 'since', 'follow', 'all']) {
    assert.ok(FLOW_QUERY_PARAMS.includes(p), p);
  }
});

test('an unencoded + in a time offset (a space after URL decoding) is still an offset', () => {
  assert.equal(parseFlowQuery(new URLSearchParams('since=2024-01-01T10:00:00+02:00')).since, Date.UTC(2024, 0, 1, 8));
});
