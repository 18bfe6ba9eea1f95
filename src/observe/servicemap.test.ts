import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Flow, FlowEndpoint } from './flow-types.ts';
import { buildServiceMap, nodeOf } from './servicemap.ts';

const pod = (ns: string, name: string, app: string | undefined, identity: number): FlowEndpoint => ({
  ID: identity - 200,
  identity,
  namespace: ns,
  pod_name: name,
  labels: [...(app ? [`k8s:app=${app}`] : []), `k8s:io.kubernetes.pod.namespace=${ns}`],
});
const FRONTEND = pod('demo', 'frontend', 'frontend', 300);
const BACKEND1 = pod('demo', 'backend-1', 'backend', 301);
const BACKEND2 = pod('demo', 'backend-2', 'backend', 301);
const LONELY = pod('other', 'lonely', undefined, 302);
const WORLD: FlowEndpoint = { identity: 2, labels: ['reserved:world'] };
const HOST: FlowEndpoint = { identity: 1 };

let seq = 0;
function flow(source: FlowEndpoint, destination: FlowEndpoint, over: Partial<Flow> & { sport?: number; dport?: number; proto?: 'TCP' | 'UDP' | 'ICMPv4' } = {}): Flow {
  const { sport = 40000, dport = 8080, proto = 'TCP', ...rest } = over;
  seq++;
  const l4 = proto === 'ICMPv4' ? { ICMPv4: { type: 8, code: 0 } } : { [proto]: { source_port: sport, destination_port: dport } };
  return {
    time: `2025-01-01T00:00:${String(seq % 60).padStart(2, '0')}.000000000Z`,
    uuid: `u${seq}`,
    verdict: 'FORWARDED',
    IP: { source: '10.224.0.1', destination: '10.224.0.2', ipVersion: 'IPv4' },
    l4,
    source,
    destination,
    Type: 'L3_L4',
    node_name: 'n1',
    event_type: { type: 4, sub_type: 0 },
    traffic_direction: 'EGRESS',
    Summary: proto,
    ...rest,
  };
}

test('replicas of an app are one workload node; a pod without an app label is its own node; reserved identities are nodes', () => {
  assert.deepEqual(nodeOf(BACKEND1, '10.224.0.5'), { id: 'demo/backend', label: 'demo/backend', kind: 'workload', namespace: 'demo', pods: [], identities: [] });
  assert.equal(nodeOf(LONELY, '10.224.0.6').id, 'other/lonely');
  assert.equal(nodeOf(LONELY, '10.224.0.6').kind, 'pod');
  assert.deepEqual(nodeOf(WORLD, '198.18.24.100'), { id: 'reserved:world', label: 'world', kind: 'reserved', pods: [], identities: [] });
  assert.equal(nodeOf(HOST, '198.18.24.1').id, 'reserved:host', 'by number when there are no labels');
  assert.deepEqual(nodeOf({}, '10.9.9.9'), { id: 'ip:10.9.9.9', label: '10.9.9.9', kind: 'ip', pods: [], identities: [] });
});

test('edges by direction, port and protocol, with counts by verdict, drops by reason and the service', () => {
  const svc = { name: 'backend', namespace: 'demo' };
  const map = buildServiceMap([
    flow(FRONTEND, BACKEND1, { destination_service: svc }),
    flow(FRONTEND, BACKEND2, { destination_service: svc }),
    // the reply of the first connection: counted on frontend -> backend, not as backend -> frontend
    flow(BACKEND1, FRONTEND, { sport: 8080, dport: 40000, is_reply: true, source_service: svc }),
    flow(BACKEND1, BACKEND2, { verdict: 'DROPPED', drop_reason: 133, drop_reason_desc: 'POLICY_DENIED' }),
    flow(BACKEND1, BACKEND2, { verdict: 'DROPPED', drop_reason: 133, drop_reason_desc: 'POLICY_DENIED' }),
    flow(BACKEND1, BACKEND2, { verdict: 'AUDIT' }),
    flow(WORLD, BACKEND1, { dport: 8080, verdict: 'FORWARDED' }),
    flow(FRONTEND, LONELY, { proto: 'ICMPv4' }),
    flow(FRONTEND, BACKEND1, { proto: 'UDP', dport: 53 }),
  ]);
  assert.deepEqual(map.nodes.map((n) => [n.id, n.kind, n.pods, n.identities]), [
    ['demo/backend', 'workload', ['demo/backend-1', 'demo/backend-2'], [301]],
    ['demo/frontend', 'workload', ['demo/frontend'], [300]],
    ['other/lonely', 'pod', ['other/lonely'], [302]],
    ['reserved:world', 'reserved', [], [2]],
  ]);
  const byId = new Map(map.edges.map((e) => [e.id, e]));
  assert.deepEqual([...byId.keys()], [
    'demo/backend -> demo/backend 8080/TCP',
    'demo/frontend -> demo/backend 53/UDP',
    'demo/frontend -> demo/backend 8080/TCP',
    'demo/frontend -> other/lonely -/ICMPv4',
    'reserved:world -> demo/backend 8080/TCP',
  ]);
  const fe = byId.get('demo/frontend -> demo/backend 8080/TCP')!;
  assert.deepEqual([fe.flows, fe.forwarded, fe.dropped, fe.audit, fe.service, fe.port, fe.protocol], [3, 3, 0, 0, 'demo/backend', 8080, 'TCP']);
  const denied = byId.get('demo/backend -> demo/backend 8080/TCP')!;
  assert.deepEqual([denied.flows, denied.forwarded, denied.dropped, denied.audit], [3, 0, 2, 1]);
  assert.deepEqual(denied.dropReasons, { POLICY_DENIED: 2 });
  assert.equal(denied.service, undefined);
  assert.equal(byId.get('demo/frontend -> other/lonely -/ICMPv4')!.port, undefined);
});

test('an empty map, and lastSeen is the newest flow', () => {
  assert.deepEqual(buildServiceMap([]), { nodes: [], edges: [] });
  const a = flow(FRONTEND, BACKEND1, { time: '2025-01-01T00:00:05.000000000Z' });
  const b = flow(FRONTEND, BACKEND1, { time: '2025-01-01T00:00:09.000000000Z' });
  assert.equal(buildServiceMap([b, a]).edges[0]!.lastSeen, b.time);
});
