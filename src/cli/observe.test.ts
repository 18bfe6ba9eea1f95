import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Flow, FlowRecord } from '../observe/flow-types.ts';
import { helpText, parse } from './command.ts';
import {
  DEFAULT_LAST, FILTER_FLAGS, flagError, flowType, formatCompact, formatTable, identityTag, observeCommand, observeFormat, observeQuery,
  stampMilli, streamTableLine, tableRow,
} from './observe.ts';
import { InputError, MembraneError } from '../errors.ts';

const T = '2026-11-22T10:01:02.123456789Z';

function flow(over: Partial<Flow> = {}): Flow {
  return {
    time: T,
    uuid: 'u1',
    verdict: 'FORWARDED',
    IP: { source: '10.222.0.5', destination: '10.222.0.6', ipVersion: 'IPv4' },
    l4: { TCP: { source_port: 41234, destination_port: 80, flags: { SYN: true } } },
    source: { ID: 12, identity: 300, namespace: 'demo', pod_name: 'frontend', labels: ['k8s:app=frontend'] },
    destination: { ID: 13, identity: 301, namespace: 'demo', pod_name: 'backend-1', labels: ['k8s:app=backend'] },
    Type: 'L3_L4',
    node_name: 'node1',
    is_reply: false,
    event_type: { type: 4, sub_type: 0 },
    traffic_direction: 'INGRESS',
    trace_observation_point: 'TO_ENDPOINT',
    Summary: 'TCP Flags: SYN',
    ...over,
  };
}
const rec = (f: Flow): FlowRecord => ({ flow: f, node_name: f.node_name, time: f.time });
const args = (...argv: string[]) => parse(observeCommand, argv).values;

test('times print as hubble prints them: Go StampMilli in UTC, the day padded with a space', () => {
  assert.equal(stampMilli(T), 'Nov 22 10:01:02.123');
  assert.equal(stampMilli('2026-01-02T03:04:05.006Z'), 'Jan  2 03:04:05.006');
  assert.equal(stampMilli('nonsense'), 'N/A');
});

test('compact: one line per flow, as in the issue', () => {
  assert.equal(formatCompact(rec(flow())), 'Nov 22 10:01:02.123: demo/frontend:41234 (ID:300) -> demo/backend-1:80 (ID:301) to-endpoint FORWARDED (TCP Flags: SYN)');
});

test('compact: a reply is shown from the other side with <-, an unknown direction with <>', () => {
  const reply = flow({ IP: { source: '10.222.0.6', destination: '10.222.0.5', ipVersion: 'IPv4' }, l4: { TCP: { source_port: 80, destination_port: 41234, flags: { SYN: true, ACK: true } } }, source: { identity: 301, namespace: 'demo', pod_name: 'backend-1' }, destination: { identity: 300, namespace: 'demo', pod_name: 'frontend' }, is_reply: true, Summary: 'TCP Flags: SYN, ACK' });
  assert.equal(formatCompact(rec(reply)), 'Nov 22 10:01:02.123: demo/frontend:41234 (ID:300) <- demo/backend-1:80 (ID:301) to-endpoint FORWARDED (TCP Flags: SYN, ACK)');
  const unknown = flow({ is_reply: undefined });
  assert.match(formatCompact(rec(unknown)), /frontend:41234 \(ID:300\) <> demo\/backend-1:80/);
});

test('compact: drops name Cilium\'s reason in the type column, then DROPPED', () => {
  const drop = flow({ verdict: 'DROPPED', drop_reason: 133, drop_reason_desc: 'POLICY_DENIED', event_type: { type: 1, sub_type: 133 }, trace_observation_point: undefined, destination: { identity: 302, namespace: 'demo', pod_name: 'backend-2' } });
  assert.equal(formatCompact(rec(drop)), 'Nov 22 10:01:02.123: demo/frontend:41234 (ID:300) -> demo/backend-2:80 (ID:302) Policy denied DROPPED (TCP Flags: SYN)');
  // An unknown code falls back to the Hubble name, readable.
  assert.equal(flowType(flow({ verdict: 'DROPPED', drop_reason: 250, drop_reason_desc: 'NAT_NO_PORT', event_type: { type: 1, sub_type: 250 } })), 'Nat no port');
  assert.equal(flowType(flow({ verdict: 'DROPPED', drop_reason: 155, event_type: { type: 1, sub_type: 155 } })), 'CT: Map insertion failed');
});

test('compact: policy verdicts as hubble shows them (match type, direction, ALLOWED/DENIED/AUDITED)', () => {
  const pv = (verdict: Flow['verdict'], match: number) => formatCompact(rec(flow({ verdict, event_type: { type: 5 }, policy_match_type: match, trace_observation_point: undefined })));
  assert.match(pv('FORWARDED', 2), / \(ID:301\) policy-verdict:L3-L4 INGRESS ALLOWED \(TCP Flags: SYN\)$/);
  assert.match(pv('DROPPED', 0), / policy-verdict:none INGRESS DENIED /);
  assert.match(pv('AUDIT', 4), / policy-verdict:all INGRESS AUDITED /);
});

test('compact: non-pods by address, services by name when no pod, reserved identities by name, no port for ICMP', () => {
  const world = flow({
    IP: { source: '198.18.22.100', destination: '10.96.22.10', ipVersion: 'IPv4' },
    l4: { ICMPv4: { type: 8, code: 0 } },
    source: { identity: 2, labels: ['reserved:world'] },
    destination: { identity: 0 },
    destination_service: { namespace: 'demo', name: 'backend' },
    trace_observation_point: 'FROM_NETWORK',
    Summary: 'ICMPv4 EchoRequest',
  });
  assert.equal(formatCompact(rec(world)), 'Nov 22 10:01:02.123: 198.18.22.100 (world) -> demo/backend (unknown) from-network FORWARDED (ICMPv4 EchoRequest)');
  assert.equal(identityTag(1), '(host)');
  assert.equal(identityTag(6), '(remote-node)');
  assert.equal(identityTag(256), '(ID:256)');
  assert.equal(flowType(flow({ trace_observation_point: 'TO_STACK' })), 'to-stack');
});

test('lost events print as hubble prints them', () => {
  const lost: FlowRecord = { lost_events: { source: 'HUBBLE_RING_BUFFER', num_events_lost: '42' }, node_name: 'n', time: T };
  assert.equal(formatCompact(lost), 'Nov 22 10:01:02.123: EVENTS LOST: HUBBLE_RING_BUFFER 42');
  assert.deepEqual(tableRow(lost), ['Nov 22 10:01:02.123', '', '', 'EVENTS LOST', 'HUBBLE_RING_BUFFER', '42 events lost']);
});

test('table: hubble\'s columns, aligned; streamed rows with fixed widths', () => {
  const text = formatTable([rec(flow()), rec(flow({ verdict: 'DROPPED', drop_reason: 133, event_type: { type: 1, sub_type: 133 } }))]);
  const lines = text.trimEnd().split('\n');
  assert.match(lines[0]!, /^TIMESTAMP\s+SOURCE\s+DESTINATION\s+TYPE\s+VERDICT\s+SUMMARY$/);
  assert.match(lines[1]!, /^Nov 22 10:01:02\.123\s+demo\/frontend:41234\s+demo\/backend-1:80\s+to-endpoint\s+FORWARDED\s+TCP Flags: SYN$/);
  assert.match(lines[2]!, /Policy denied\s+DROPPED/);
  assert.equal(lines[1]!.indexOf('demo/backend-1'), lines[0]!.indexOf('DESTINATION'));
  const s = streamTableLine(tableRow(rec(flow())));
  assert.equal(s.indexOf('demo/frontend'), 22);
});

test('-o takes compact, json or table and names the flag otherwise', () => {
  assert.equal(observeFormat(undefined), 'compact');
  assert.equal(args().output, 'compact');
  assert.equal(observeFormat('json'), 'json');
  assert.throws(() => observeFormat('yaml'), /--output: 'yaml' is not an output format: write compact, json or table/);
});

test('every flag of the issue is defined, with its short forms', () => {
  for (const f of ['pod', 'from-pod', 'to-pod', 'namespace', 'from-namespace', 'to-namespace', 'label', 'from-label', 'to-label', 'identity', 'from-identity', 'to-identity', 'ip', 'from-ip', 'to-ip', 'port', 'from-port', 'to-port', 'protocol', 'verdict', 'drop-reason', 'type', 'service', 'from-service', 'to-service', 'traffic-direction', 'is-reply']) {
    assert.ok(FILTER_FLAGS[f], f);
  }
  const v = args('-f', '-n', 'demo', '-l', 'app=web', '-l', 'tier=api', '-o', 'json');
  assert.equal(v.follow, true);
  assert.deepEqual(v.namespace, ['demo']);
  assert.deepEqual(v.label, ['app=web', 'tier=api']);
  const h = helpText(observeCommand);
  for (const s of ['-f, --follow', '--last N', '--since DURATION|TIME', '--all', '-n, --namespace NS', '-l, --label SELECTOR', '--to-service NS/NAME', 'Examples:', 'membrane observe -f --pod demo/frontend']) {
    assert.ok(h.includes(s), s);
  }
});

test('the query: the last 20 by default, none when following, --since/--all instead of --last', () => {
  assert.equal(observeQuery(args()).toString(), `last=${DEFAULT_LAST}`);
  assert.equal(observeQuery(args('-f')).toString(), 'follow=true');
  assert.equal(observeQuery(args('-f', '--last', '5')).toString(), 'last=5&follow=true');
  assert.equal(observeQuery(args('--since', '5m')).toString(), 'since=5m');
  assert.equal(observeQuery(args('--all')).toString(), 'all=true');
});

test('the query: each filter flag is a parameter of the same name, repeated flags repeated', () => {
  const q = observeQuery(args('--pod', 'demo/frontend', '--pod', 'demo/backend-1', '--to-port', '80', '--verdict', 'DROPPED', '--type', 'trace:to-endpoint', '--is-reply', 'false', '-n', 'demo'));
  assert.deepEqual(q.getAll('pod'), ['demo/frontend', 'demo/backend-1']);
  assert.deepEqual(q.getAll('to-port'), ['80']);
  assert.deepEqual(q.getAll('verdict'), ['DROPPED']);
  assert.deepEqual(q.getAll('type'), ['trace:to-endpoint']);
  assert.deepEqual(q.getAll('is-reply'), ['false']);
  assert.deepEqual(q.getAll('namespace'), ['demo']);
});

test('bad flags are refused before anything is sent, naming the flag', () => {
  assert.throws(() => observeQuery(args('--last', 'ten')), /--last: 'ten' is not a number of flows: write a whole number ≥ 1/);
  assert.throws(() => observeQuery(args('--last', '0')), /--last: /);
  assert.throws(() => observeQuery(args('--last', '5', '--all')), /--last: give --last N or --all, not both/);
  assert.throws(() => observeQuery(args('--to-port', 'http')), /^InputError: --to-port: .* see 'membrane observe --help'/);
  assert.throws(() => observeQuery(args('--verdict', 'MAYBE')), /--verdict: /);
  assert.throws(() => observeQuery(args('--since', 'yesterday')), /--since: /);
  assert.throws(() => observeQuery(args('--ip', '10.1.2.300')), /--ip: /);
  assert.throws(() => observeQuery(args('--is-reply', 'perhaps')), /--is-reply: /);
  assert.throws(() => observeQuery(args('--type', 'trace:nowhere')), /--type: /);
});

test('the agent\'s errors about a parameter are renamed after the flag; others pass through', () => {
  const e = flagError(new MembraneError('INVALID_INPUT', 'pod: bad', { details: { field: 'pod', reason: 'bad' } })) as Error;
  assert.equal(e.message, "--pod: bad — see 'membrane observe --help'");
  assert.ok(e instanceof InputError);
  const other = new MembraneError('AGENT_UNREACHABLE', 'x');
  assert.equal(flagError(other), other);
});
