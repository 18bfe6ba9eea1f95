import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointJSON } from '../agent/api-types.ts';
import { CNI_ERR, CniError } from './errors.ts';
import { buildAddResult, diffAttachment, expectedFromPrevResult, ipsCarryVersion } from './result.ts';

const sampleEndpoint: EndpointJSON = {
  id: 7,
  state: 'ready',
  containerID: 'c0ffee',
  ifName: 'eth0',
  netns: '/var/run/netns/pod1',
  podNamespace: 'default',
  podName: 'web-0',
  labels: {},
  ipv4: '10.200.0.5',
  prefixLength: 32,
  gateway: '10.200.0.1',
  podMAC: '0a:58:0a:c8:00:05',
  hostIfName: 'lxc1a2b3c4d',
  hostIfIndex: 42,
  hostMAC: '0a:58:0a:c8:00:01',
  createdAt: '2025-01-01T00:00:00.000Z',
};

const attachment = { ifName: 'eth0', netns: '/var/run/netns/pod1' };

test('1.x result shape: host interface first, pod interface second, no ip version', () => {
  for (const v of ['1.0.0', '1.1.0'] as const) {
    const r = buildAddResult(sampleEndpoint, attachment, v);
    assert.deepEqual(r, {
      cniVersion: v,
      interfaces: [
        { name: 'lxc1a2b3c4d', mac: '0a:58:0a:c8:00:01' },
        { name: 'eth0', mac: '0a:58:0a:c8:00:05', sandbox: '/var/run/netns/pod1' },
      ],
      ips: [{ address: '10.200.0.5/32', gateway: '10.200.0.1', interface: 1 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.200.0.1' }],
      dns: {},
    });
  }
});

test('0.3.x and 0.4.0 results carry "version": "4" in each ip', () => {
  for (const v of ['0.3.0', '0.3.1', '0.4.0'] as const) {
    const r = buildAddResult(sampleEndpoint, attachment, v);
    assert.equal(r.cniVersion, v);
    assert.deepEqual(r.ips, [{ version: '4', address: '10.200.0.5/32', gateway: '10.200.0.1', interface: 1 }]);
    assert.equal(r.interfaces.length, 2);
    assert.equal(r.interfaces[0]?.sandbox, undefined, 'host interface has no sandbox');
    assert.equal(r.interfaces[1]?.sandbox, '/var/run/netns/pod1');
  }
  assert.equal(ipsCarryVersion('0.4.0'), true);
  assert.equal(ipsCarryVersion('1.0.0'), false);
});

test('result uses the runtime netns and ifName, not the agent copy', () => {
  const r = buildAddResult({ ...sampleEndpoint, netns: '/proc/1/ns/net' }, { ifName: 'eth0', netns: '/run/netns/x' }, '1.1.0');
  assert.equal(r.interfaces[1]?.sandbox, '/run/netns/x');
  // JSON round-trip: no undefined members leak into the output.
  assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
});

test('prevResult: finds the pod interface and its addresses', () => {
  const prev = JSON.parse(JSON.stringify(buildAddResult(sampleEndpoint, attachment, '1.1.0'))) as Record<string, unknown>;
  const exp = expectedFromPrevResult(prev, 'eth0', '/var/run/netns/pod1');
  assert.deepEqual(exp, {
    ifName: 'eth0',
    sandbox: '/var/run/netns/pod1',
    addresses: ['10.200.0.5/32'],
    mac: '0a:58:0a:c8:00:05',
  });
  assert.deepEqual(diffAttachment(exp, sampleEndpoint), []);
  // MAC comparison ignores case.
  assert.deepEqual(diffAttachment({ ...exp, mac: '0A:58:0A:C8:00:05' }, sampleEndpoint), []);
});

test('prevResult: chained plugins may add interfaces before/after', () => {
  const prev = {
    cniVersion: '0.4.0',
    interfaces: [
      { name: 'eth0', sandbox: '' },
      { name: 'lxc1', mac: 'aa:aa:aa:aa:aa:aa' },
      { name: 'eth0', mac: '0a:58:0a:c8:00:05', sandbox: '/var/run/netns/pod1' },
    ],
    ips: [
      { version: '4', address: '10.9.9.9/24', interface: 1 },
      { version: '4', address: '10.200.0.5/32', gateway: '10.200.0.1', interface: 2 },
    ],
  };
  const exp = expectedFromPrevResult(prev, 'eth0', '/var/run/netns/pod1');
  assert.deepEqual(exp.addresses, ['10.200.0.5/32']);
});

test('prevResult problems', () => {
  const code = (fn: () => unknown): number => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof CniError);
      return err.code;
    }
    return -1;
  };
  const good = buildAddResult(sampleEndpoint, attachment, '1.1.0') as unknown as Record<string, unknown>;
  assert.equal(code(() => expectedFromPrevResult(good, 'net1', '/var/run/netns/pod1')), CNI_ERR.ATTACHMENT_MISMATCH);
  assert.equal(code(() => expectedFromPrevResult(good, 'eth0', '/var/run/netns/other')), CNI_ERR.ATTACHMENT_MISMATCH);
  assert.equal(code(() => expectedFromPrevResult({ ...good, ips: [] }, 'eth0', '')), CNI_ERR.ATTACHMENT_MISMATCH);
  assert.equal(code(() => expectedFromPrevResult({ ...good, ips: 'x' }, 'eth0', '')), CNI_ERR.INVALID_NETWORK_CONFIG);
  assert.equal(code(() => expectedFromPrevResult({ ...good, ips: [{}] }, 'eth0', '')), CNI_ERR.INVALID_NETWORK_CONFIG);
});

test('diffAttachment reports address and MAC differences', () => {
  const exp = { ifName: 'eth0', sandbox: '/x', addresses: ['10.200.0.9/32'], mac: 'ff:ff:ff:ff:ff:ff' };
  const diffs = diffAttachment(exp, sampleEndpoint);
  assert.equal(diffs.length, 2);
  assert.match(diffs[0] ?? '', /10\.200\.0\.9\/32.*10\.200\.0\.5\/32/);
  assert.match(diffs[1] ?? '', /mac/);
});
