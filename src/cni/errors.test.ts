import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError, MembraneError } from '../errors.ts';
import { CNI_ERR, CniError, cniCodeFor, cniErrorJSON, toCniError } from './errors.ts';

test('well-known code values match the spec', () => {
  assert.equal(CNI_ERR.INCOMPATIBLE_VERSION, 1);
  assert.equal(CNI_ERR.UNSUPPORTED_FIELD, 2);
  assert.equal(CNI_ERR.UNKNOWN_CONTAINER, 3);
  assert.equal(CNI_ERR.INVALID_ENV, 4);
  assert.equal(CNI_ERR.IO_FAILURE, 5);
  assert.equal(CNI_ERR.DECODE_FAILURE, 6);
  assert.equal(CNI_ERR.INVALID_NETWORK_CONFIG, 7);
  assert.equal(CNI_ERR.TRY_AGAIN_LATER, 11);
  assert.equal(CNI_ERR.PLUGIN_NOT_AVAILABLE, 50);
  assert.equal(CNI_ERR.LIMITED_CONNECTIVITY, 51);
  // Membrane's own codes stay out of the reserved 0-99 range.
  assert.ok(CNI_ERR.ATTACHMENT_MISMATCH >= 100);
  assert.ok(CNI_ERR.INTERNAL >= 100);
});

test('Membrane codes map to CNI codes', () => {
  assert.equal(cniCodeFor('AGENT_UNREACHABLE'), 5);
  assert.equal(cniCodeFor('NOT_FOUND'), 3);
  assert.equal(cniCodeFor('INVALID_INPUT'), 7);
  assert.equal(cniCodeFor('IPAM_EXHAUSTED'), 11);
  assert.equal(cniCodeFor('CONFLICT'), CNI_ERR.ATTACHMENT_MISMATCH);
  assert.equal(cniCodeFor('NETLINK_FAILED'), CNI_ERR.INTERNAL);
  assert.equal(cniCodeFor('INTERNAL'), CNI_ERR.INTERNAL);
  assert.equal(cniCodeFor('INTERNAL', 503), 11);
  assert.equal(cniCodeFor('SOMETHING_NEW'), CNI_ERR.INTERNAL);
});

test('toCniError keeps CniErrors and converts the rest', () => {
  const c = new CniError(4, 'x');
  assert.equal(toCniError(c), c);

  const m = toCniError(new MembraneError('AGENT_UNREACHABLE', 'cannot reach the agent'));
  assert.equal(m.code, 5);
  assert.equal(m.message, 'cannot reach the agent');
  assert.match(m.details ?? '', /AGENT_UNREACHABLE/);

  const agentAnswer = new MembraneError('NETLINK_FAILED', 'ip link add failed', { details: { status: 500, cmd: 'ip link' } });
  const a = toCniError(agentAnswer);
  assert.equal(a.code, CNI_ERR.INTERNAL);
  assert.match(a.details ?? '', /NETLINK_FAILED/);
  assert.match(a.details ?? '', /ip link/);
  assert.doesNotMatch(a.details ?? '', /status/);

  const busy = toCniError(new MembraneError('INTERNAL', 'starting up', { details: { status: 503 } }));
  assert.equal(busy.code, 11);

  // Request fields that come from CNI_* variables are code 4; other bad input is 7.
  assert.equal(toCniError(new InputError('netns', 'is not a network namespace')).code, 4);
  assert.equal(toCniError(new InputError('body', 'not an object')).code, 7);
  assert.equal(toCniError(new Error('boom')).code, CNI_ERR.INTERNAL);
  assert.equal(toCniError('weird').message, 'weird');
});

test('error JSON shape', () => {
  assert.deepEqual(cniErrorJSON(new CniError(1, 'incompatible', 'supported: 1.1.0'), '0.4.0'), {
    cniVersion: '0.4.0',
    code: 1,
    msg: 'incompatible',
    details: 'supported: 1.1.0',
  });
  const noDetails = cniErrorJSON(new CniError(6, 'bad json'), '1.1.0');
  assert.deepEqual(noDetails, { cniVersion: '1.1.0', code: 6, msg: 'bad json' });
  assert.ok(!('details' in noDetails));
});
