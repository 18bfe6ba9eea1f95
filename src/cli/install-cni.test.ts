import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conflist } from './install-cni.ts';

test('the conflist puts Membrane first and chains with capabilities', () => {
  const c = conflist({ name: 'membrane', cniVersion: '1.0.0', chain: ['portmap', 'bandwidth'] }) as { plugins: Array<Record<string, unknown>> };
  assert.deepEqual(c.plugins.map((p) => p.type), ['membrane-cni', 'portmap', 'bandwidth']);
  assert.deepEqual(c.plugins[1]!.capabilities, { portMappings: true });
  assert.deepEqual(c.plugins[2]!.capabilities, { bandwidth: true });
});

test('a custom agent socket is carried in the plugin config', () => {
  const c = conflist({ name: 'n', cniVersion: '1.1.0', chain: [], socket: '/run/x.sock' }) as { plugins: Array<Record<string, unknown>> };
  assert.equal(c.plugins[0]!.agentSocket, '/run/x.sock');
});
