import { test } from 'node:test';
import assert from 'node:assert/strict';
import { policyRef } from '../policy/types.ts';
import { parsePortProto } from './policy.ts';

test('--port takes PORT[/PROTOCOL], TCP by default, any case', () => {
  assert.deepEqual(parsePortProto('80/TCP'), { port: 80, protocol: 'TCP' });
  assert.deepEqual(parsePortProto('53/udp'), { port: 53, protocol: 'UDP' });
  assert.deepEqual(parsePortProto('8080'), { port: 8080, protocol: 'TCP' });
  assert.deepEqual(parsePortProto('9/Sctp'), { port: 9, protocol: 'SCTP' });
});

test('--port refuses what is not a port and protocol, naming the flag', () => {
  for (const bad of ['0', '65536', '80/ICMP', 'http', '80/', '']) {
    assert.throws(() => parsePortProto(bad), /--port: .* is not PORT\[\/PROTOCOL\]/, bad);
  }
});

test('policies are named (src/policy/types.ts) Kind namespace/name, clusterwide ones Kind name', () => {
  assert.equal(policyRef({ kind: 'NetworkPolicy', namespace: 'x', name: 'a' }), 'NetworkPolicy x/a');
  assert.equal(policyRef({ kind: 'CiliumClusterwideNetworkPolicy', name: 'g' }), 'CiliumClusterwideNetworkPolicy g');
});
