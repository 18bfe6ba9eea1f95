import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildFlow, flowSummary, trafficDirectionOf, type FlowContext } from './flow.ts';
import type { FlowEndpoint } from './flow-types.ts';
import { rawEvent } from './testing.ts';

const src: FlowEndpoint = { ID: 11, identity: 300, namespace: 'demo', labels: ['k8s:app=frontend'], pod_name: 'frontend' };
const dst: FlowEndpoint = { ID: 12, identity: 301, namespace: 'demo', labels: ['k8s:app=backend'], pod_name: 'backend-1' };
const ctx: FlowContext = { source: src, destination: dst };
const stamp = { time: '2024-11-22T10:01:02.123456789Z', uuid: 'u-1', node_name: 'node-a' };
const policy = { policy: { name: 'deny-frontend', namespace: 'demo', kind: 'NetworkPolicy' }, rule: 'NetworkPolicy demo/deny-frontend spec.ingress[0]' };

test('a from-endpoint trace of a SYN becomes the Hubble flow', () => {
  const f = buildFlow(rawEvent({ type: 2, subtype: 1, ifindex: 20, flags: 1 | 4, tcp_flags: 0x02 }), { ...ctx, interfaceName: 'lxc11' }, stamp);
  assert.deepEqual(f, {
    time: stamp.time,
    uuid: 'u-1',
    verdict: 'FORWARDED',
    IP: { source: '10.222.0.10', destination: '10.222.0.11', ipVersion: 'IPv4' },
    l4: { TCP: { source_port: 41234, destination_port: 80, flags: { SYN: true } } },
    source: src,
    destination: dst,
    Type: 'L3_L4',
    node_name: 'node-a',
    is_reply: false,
    event_type: { type: 4, sub_type: 5 },
    traffic_direction: 'EGRESS',
    trace_observation_point: 'FROM_ENDPOINT',
    interface: { index: 20, name: 'lxc11' },
    Summary: 'TCP Flags: SYN',
  });
});

test('trace points: Cilium sub-types, Hubble names, directions (reversed for replies)', () => {
  const cases: [number, number, string, string][] = [
    [1, 5, 'FROM_ENDPOINT', 'EGRESS'],
    [2, 0, 'TO_ENDPOINT', 'INGRESS'],
    [3, 3, 'TO_STACK', 'EGRESS'],
    [4, 10, 'FROM_NETWORK', 'INGRESS'],
    [5, 11, 'TO_NETWORK', 'EGRESS'],
  ];
  for (const [point, sub, name, dir] of cases) {
    const f = buildFlow(rawEvent({ subtype: point }), ctx, stamp);
    assert.deepEqual(f.event_type, { type: 4, sub_type: sub });
    assert.equal(f.trace_observation_point, name);
    assert.equal(f.traffic_direction, dir);
    assert.equal(f.is_reply, undefined, 'no REPLY_KNOWN: is_reply absent');
    assert.equal('is_reply' in f, false);
    const reply = buildFlow(rawEvent({ subtype: point, flags: 1 | 2 }), ctx, stamp);
    assert.equal(reply.is_reply, true);
    assert.equal(reply.traffic_direction, dir === 'EGRESS' ? 'INGRESS' : 'EGRESS');
  }
  assert.equal(buildFlow(rawEvent({ subtype: 99 }), ctx, stamp).trace_observation_point, 'UNKNOWN_POINT');
});

test('drops carry Cilium codes and Hubble names; a deny rule names its policy', () => {
  const expected: Record<number, [number, string]> = {
    1: [132, 'INVALID_SOURCE_IP'], 2: [139, 'UNSUPPORTED_L3_PROTOCOL'], 3: [134, 'INVALID_PACKET_DROPPED'], 4: [172, 'UNKNOWN_SENDER'],
    5: [158, 'SERVICE_BACKEND_NOT_FOUND'], 6: [167, 'NO_MAPPING_FOR_NAT_MASQUERADE'], 7: [158, 'SERVICE_BACKEND_NOT_FOUND'],
    8: [169, 'FIB_LOOKUP_FAILED'], 9: [133, 'POLICY_DENIED'], 10: [181, 'POLICY_DENY'], 11: [155, 'CT_MAP_INSERTION_FAILED'],
  };
  for (const [reason, [code, name]] of Object.entries(expected)) {
    const f = buildFlow(rawEvent({ type: 1, subtype: Number(reason), dir: 2 }), ctx, stamp);
    assert.equal(f.verdict, 'DROPPED');
    assert.equal(f.drop_reason, code);
    assert.equal(f.drop_reason_desc, name);
    assert.deepEqual(f.event_type, { type: 1, sub_type: code });
    assert.equal(f.traffic_direction, 'INGRESS');
    assert.equal(f.trace_observation_point, undefined);
  }
  const deny = buildFlow(rawEvent({ type: 1, subtype: 10, dir: 2, rule_id: 7 }), { ...ctx, policy }, stamp);
  assert.deepEqual(deny.ingress_denied_by, [policy.policy]);
  assert.equal(deny.policy_rule, policy.rule);
  assert.equal(deny.egress_denied_by, undefined);
  const egress = buildFlow(rawEvent({ type: 1, subtype: 10, dir: 1, rule_id: 7 }), { ...ctx, policy }, stamp);
  assert.deepEqual(egress.egress_denied_by, [policy.policy]);
  assert.equal(buildFlow(rawEvent({ type: 1, subtype: 99 }), ctx, stamp).drop_reason_desc, 'DROP_REASON_UNKNOWN');
});

test('policy verdicts: ALLOWED → FORWARDED, DENIED → DROPPED, AUDIT; match type; allowed/denied by', () => {
  const allowed = buildFlow(rawEvent({ type: 3, subtype: 2, verdict: 1, dir: 2, rule_id: 7 }), { ...ctx, policy }, stamp);
  assert.equal(allowed.verdict, 'FORWARDED');
  assert.deepEqual(allowed.event_type, { type: 5, sub_type: 0 });
  assert.equal(allowed.policy_match_type, 2);
  assert.equal(allowed.traffic_direction, 'INGRESS');
  assert.deepEqual(allowed.ingress_allowed_by, [policy.policy]);
  assert.equal(allowed.drop_reason, undefined);

  const defaultDeny = buildFlow(rawEvent({ type: 3, subtype: 0, verdict: 2, dir: 1 }), ctx, stamp);
  assert.equal(defaultDeny.verdict, 'DROPPED');
  assert.equal(defaultDeny.drop_reason_desc, 'POLICY_DENIED');
  assert.equal(defaultDeny.drop_reason, 133);
  assert.equal(defaultDeny.traffic_direction, 'EGRESS');
  assert.equal(defaultDeny.egress_denied_by, undefined);

  const denyRule = buildFlow(rawEvent({ type: 3, subtype: 1, verdict: 2, dir: 2, rule_id: 7 }), { ...ctx, policy }, stamp);
  assert.equal(denyRule.drop_reason_desc, 'POLICY_DENY');
  assert.deepEqual(denyRule.ingress_denied_by, [policy.policy]);

  const audit = buildFlow(rawEvent({ type: 3, subtype: 0, verdict: 3, dir: 2 }), ctx, stamp);
  assert.equal(audit.verdict, 'AUDIT');
  assert.equal(audit.drop_reason_desc, undefined);
});

test('summaries and layer 4 like hubble', () => {
  assert.equal(flowSummary(rawEvent({ tcp_flags: 0x12 })), 'TCP Flags: SYN, ACK');
  assert.equal(flowSummary(rawEvent({ tcp_flags: 0x11 })), 'TCP Flags: ACK, FIN');
  assert.equal(flowSummary(rawEvent({ tcp_flags: 0x18 })), 'TCP Flags: ACK, PSH');
  assert.equal(flowSummary(rawEvent({ tcp_flags: 0x14 })), 'TCP Flags: ACK, RST');
  assert.equal(flowSummary(rawEvent({ proto: 17 })), 'UDP');
  assert.equal(flowSummary(rawEvent({ proto: 1, sport: 0, dport: 8 << 8 })), 'ICMPv4 EchoRequest');
  assert.equal(flowSummary(rawEvent({ proto: 1, sport: 0, dport: 0 })), 'ICMPv4 EchoReply');
  assert.equal(flowSummary(rawEvent({ proto: 1, sport: 0, dport: (3 << 8) | 3 })), 'ICMPv4 DestinationUnreachable(Port)');
  const icmp = buildFlow(rawEvent({ proto: 1, sport: 0, dport: (11 << 8) | 0 }), ctx, stamp);
  assert.deepEqual(icmp.l4, { ICMPv4: { type: 11, code: 0 } });
  assert.equal(icmp.Summary, 'ICMPv4 TimeExceeded(TTLExceeded)');
  assert.deepEqual(buildFlow(rawEvent({ proto: 17, sport: 5353, dport: 53 }), ctx, stamp).l4, { UDP: { source_port: 5353, destination_port: 53 } });
  assert.deepEqual(buildFlow(rawEvent({ proto: 132 }), ctx, stamp).l4, { SCTP: { source_port: 41234, destination_port: 80 } });
  assert.equal(buildFlow(rawEvent({ proto: 47 }), ctx, stamp).l4, undefined);
  assert.deepEqual(buildFlow(rawEvent({ tcp_flags: 0xff }), ctx, stamp).l4?.TCP?.flags, { FIN: true, SYN: true, RST: true, PSH: true, ACK: true, URG: true, ECE: true, CWR: true });
});

test('trafficDirectionOf: drops and verdicts keep the datapath direction; unknown stays unknown', () => {
  assert.equal(trafficDirectionOf(rawEvent({ type: 1, dir: 1, flags: 3 })), 'EGRESS');
  assert.equal(trafficDirectionOf(rawEvent({ type: 1, dir: 0 })), 'TRAFFIC_DIRECTION_UNKNOWN');
});

test('services and interface without name', () => {
  const svc = { name: 'backend', namespace: 'demo' };
  const f = buildFlow(rawEvent({ ifindex: 9 }), { ...ctx, destination_service: svc }, stamp);
  assert.deepEqual(f.destination_service, svc);
  assert.equal(f.source_service, undefined);
  assert.deepEqual(f.interface, { index: 9 });
  assert.equal(buildFlow(rawEvent({ ifindex: 0 }), ctx, stamp).interface, undefined);
});
