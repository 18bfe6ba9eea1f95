import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentConfig } from './agent.ts';

test('every service flag reaches the config, and the defaults fill the rest', () => {
  const c = agentConfig({
    'service-cidr': '10.96.7.0/24', 'node-port-range': '31000-31999', devices: 'uplink, eth1', 'node-ip': '198.18.7.1',
    'lb-acceleration': 'xdp', 'lb-mode': 'dsr', 'maglev-table-size': '251', 'cgroup-root': '/sys/fs/cgroup/x',
  });
  assert.equal(c.serviceCidr, '10.96.7.0/24');
  assert.deepEqual(c.nodePortRange, { min: 31000, max: 31999 });
  assert.deepEqual(c.devices, ['uplink', 'eth1']);
  assert.equal(c.nodeIp, '198.18.7.1');
  assert.equal(c.lbAcceleration, 'xdp');
  assert.equal(c.lbMode, 'dsr');
  assert.equal(c.maglevTableSize, 251);
  assert.equal(c.cgroupRoot, '/sys/fs/cgroup/x');
  const d = agentConfig({});
  assert.equal(d.serviceCidr, '10.96.0.0/12');
  assert.equal(d.maglevTableSize, 16381);
});

test('a bad service flag is refused with its name and the reason', () => {
  assert.throws(() => agentConfig({ 'maglev-table-size': '1000' }), /--maglev-table-size: '1000' must be a prime/);
  assert.throws(() => agentConfig({ 'node-port-range': '40000-30000' }), /--node-port-range/);
  assert.throws(() => agentConfig({ 'lb-mode': 'nat' }), /--lb-mode: 'nat' is not 'snat' or 'dsr'/);
  assert.throws(() => agentConfig({ 'service-cidr': '10.96.0.0' }), /--service-cidr/);
});

test('the observability flags reach the config; defaults are medium aggregation, all events, loopback listeners', () => {
  const d = agentConfig({});
  assert.equal(d.monitorAggregation, 'medium');
  assert.equal(d.monitorAggregationInterval, 5);
  assert.deepEqual(d.bpfEvents, { trace: true, drop: true, policyVerdict: true });
  assert.equal(d.flowBufferSize, 4095);
  assert.equal(d.prometheusServeAddr, '127.0.0.1:9962');
  assert.equal(d.uiServeAddr, '127.0.0.1:12000');
  const c = agentConfig({
    'monitor-aggregation': 'none', 'monitor-aggregation-interval': '30', 'bpf-events-trace-enabled': 'false',
    'bpf-events-drop-enabled': 'true', 'bpf-events-policy-verdict-enabled': 'false', 'flow-buffer-size': '100',
    'prometheus-serve-addr': '', 'ui-serve-addr': '[::1]:0',
  });
  assert.equal(c.monitorAggregation, 'none');
  assert.equal(c.monitorAggregationInterval, 30);
  assert.deepEqual(c.bpfEvents, { trace: false, drop: true, policyVerdict: false });
  assert.equal(c.flowBufferSize, 100);
  assert.equal(c.prometheusServeAddr, '');
  assert.equal(c.uiServeAddr, '[::1]:0');
});

test('bad observability flags are refused naming the flag', () => {
  assert.throws(() => agentConfig({ 'monitor-aggregation': 'high' }), /--monitor-aggregation.*'high' is not one of none, lowest, low, medium, maximum/);
  assert.throws(() => agentConfig({ 'bpf-events-trace-enabled': 'no' }), /--bpf-events-trace-enabled.*'no' is not 'true' or 'false'/);
  assert.throws(() => agentConfig({ 'flow-buffer-size': '0' }), /--flow-buffer-size/);
  assert.throws(() => agentConfig({ 'prometheus-serve-addr': '9962' }), /--prometheus-serve-addr.*not HOST:PORT/);
});
