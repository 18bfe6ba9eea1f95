import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SOCKET } from '../agent/api-types.ts';
import { CNI_ERR, CniError } from './errors.ts';
import {
  compareVersions,
  missingEnv,
  negotiateVersion,
  parseCniArgs,
  parseCommand,
  parseNetworkConfig,
  parseRequest,
  peekVersion,
  requireVersionFor,
  validateIfName,
  validateNetns,
  type AttachmentSpec,
  type GcSpec,
} from './spec.ts';

const conf = (extra: Record<string, unknown> = {}, version = '1.1.0'): string =>
  JSON.stringify({ cniVersion: version, name: 'membrane', type: 'membrane-cni', ...extra });

const addEnv = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c0ffee',
  CNI_NETNS: '/var/run/netns/pod1',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
};

function cniCode(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CniError, `expected CniError, got ${String(err)}`);
    return err.code;
  }
  assert.fail('expected a CniError');
}

function cniErr(fn: () => unknown): CniError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CniError);
    return err;
  }
  assert.fail('expected a CniError');
}

test('ADD request: env, args and config become a spec', () => {
  const spec = parseRequest(
    { ...addEnv, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=c0ffee' },
    conf({ runtimeConfig: { portMappings: [] } }),
  ) as AttachmentSpec;
  assert.equal(spec.command, 'ADD');
  assert.equal(spec.cniVersion, '1.1.0');
  assert.equal(spec.containerID, 'c0ffee');
  assert.equal(spec.ifName, 'eth0');
  assert.equal(spec.netns, '/var/run/netns/pod1');
  assert.equal(spec.podNamespace, 'default');
  assert.equal(spec.podName, 'web-0');
  assert.deepEqual(spec.path, ['/opt/cni/bin', '/usr/lib/cni']);
  assert.equal(spec.args.IgnoreUnknown, '1');
  assert.deepEqual(spec.config.runtimeConfig, { portMappings: [] });
  assert.equal(spec.config.name, 'membrane');
  assert.equal(spec.socketPath, DEFAULT_SOCKET);
});

test('no K8S args: no pod namespace or name', () => {
  const spec = parseRequest(addEnv, conf()) as AttachmentSpec;
  assert.equal(spec.podNamespace, undefined);
  assert.equal(spec.podName, undefined);
});

test('CNI_ARGS parsing', () => {
  assert.deepEqual(parseCniArgs(''), {});
  assert.deepEqual(parseCniArgs('A=1;B=2;'), { A: '1', B: '2' });
  assert.deepEqual(parseCniArgs('A=x=y'), { A: 'x=y' });
  assert.deepEqual(parseCniArgs('A='), { A: '' });
  const e = cniErr(() => parseCniArgs('A=1;garbage'));
  assert.equal(e.code, CNI_ERR.INVALID_ENV);
  assert.match(e.message, /CNI_ARGS/);
  assert.equal(cniCode(() => parseCniArgs('=v')), CNI_ERR.INVALID_ENV);
});

test('missing CNI_COMMAND, CNI_CONTAINERID or CNI_IFNAME: code 4 naming the variable', () => {
  for (const name of ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_NETNS']) {
    const env: Record<string, string> = { ...addEnv };
    delete env[name];
    const e = cniErr(() => parseRequest(env, conf()));
    assert.equal(e.code, CNI_ERR.INVALID_ENV, name);
    assert.ok(e.message.includes(name), `${e.message} names ${name}`);
  }
  // Empty counts as missing.
  const e = cniErr(() => parseRequest({ ...addEnv, CNI_IFNAME: '' }, conf()));
  assert.match(e.message, /CNI_IFNAME/);
  // All missing ones are named at once.
  assert.deepEqual(missingEnv('ADD', { CNI_COMMAND: 'ADD' }), ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME']);
});

test('unknown CNI_COMMAND: code 4', () => {
  const e = cniErr(() => parseCommand({ CNI_COMMAND: 'add' }));
  assert.equal(e.code, CNI_ERR.INVALID_ENV);
  assert.match(e.message, /CNI_COMMAND/);
});

test('required variables per command', () => {
  assert.deepEqual(missingEnv('DEL', { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'a', CNI_IFNAME: 'eth0' }), []);
  assert.deepEqual(missingEnv('STATUS', { CNI_COMMAND: 'STATUS' }), []);
  assert.deepEqual(missingEnv('GC', { CNI_COMMAND: 'GC' }), []);
  assert.deepEqual(missingEnv('VERSION', { CNI_COMMAND: 'VERSION' }), []);
  assert.deepEqual(missingEnv('CHECK', { CNI_COMMAND: 'CHECK' }), ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME']);
});

test('DEL without CNI_NETNS parses, netns empty', () => {
  for (const netns of [undefined, '']) {
    const env: Record<string, string | undefined> = { ...addEnv, CNI_COMMAND: 'DEL', CNI_NETNS: netns };
    const spec = parseRequest(env, conf()) as AttachmentSpec;
    assert.equal(spec.command, 'DEL');
    assert.equal(spec.netns, '');
  }
});

test('VERSION needs nothing but the command, ignores stdin', () => {
  assert.deepEqual(parseRequest({ CNI_COMMAND: 'VERSION' }, 'not json at all'), { command: 'VERSION' });
});

test('garbage stdin: code 6', () => {
  assert.equal(cniCode(() => parseRequest(addEnv, 'garbage{')), CNI_ERR.DECODE_FAILURE);
  assert.equal(cniCode(() => parseRequest(addEnv, '')), CNI_ERR.DECODE_FAILURE);
  assert.equal(cniCode(() => parseRequest(addEnv, '[1,2]')), CNI_ERR.DECODE_FAILURE);
  assert.equal(cniCode(() => parseRequest(addEnv, 'null')), CNI_ERR.DECODE_FAILURE);
});

test('unknown, unsupported or missing version: code 1', () => {
  for (const v of ['9.9.9', '0.2.0', '0.1.0', '1.1', 'latest']) {
    const e = cniErr(() => parseRequest(addEnv, conf({}, v)));
    assert.equal(e.code, CNI_ERR.INCOMPATIBLE_VERSION, v);
    assert.ok(e.details?.includes('1.1.0'), 'details list the supported versions');
  }
  const noVersion = JSON.stringify({ name: 'membrane', type: 'membrane-cni' });
  assert.equal(cniCode(() => parseRequest(addEnv, noVersion)), CNI_ERR.INCOMPATIBLE_VERSION);
  assert.equal(cniCode(() => negotiateVersion(110)), CNI_ERR.INVALID_NETWORK_CONFIG);
  for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) assert.equal(negotiateVersion(v), v);
});

test('CHECK needs >= 0.4.0, STATUS and GC need 1.1.0', () => {
  const check = { ...addEnv, CNI_COMMAND: 'CHECK' };
  const prev = { prevResult: { cniVersion: '0.3.1', interfaces: [], ips: [] } };
  for (const v of ['0.3.0', '0.3.1']) {
    assert.equal(cniCode(() => parseRequest(check, conf(prev, v))), CNI_ERR.INCOMPATIBLE_VERSION);
  }
  assert.equal((parseRequest(check, conf(prev, '0.4.0')) as AttachmentSpec).command, 'CHECK');
  for (const v of ['0.4.0', '1.0.0']) {
    assert.equal(cniCode(() => parseRequest({ CNI_COMMAND: 'STATUS' }, conf({}, v))), CNI_ERR.INCOMPATIBLE_VERSION);
    assert.equal(
      cniCode(() => parseRequest({ CNI_COMMAND: 'GC' }, conf({ 'cni.dev/valid-attachments': [] }, v))),
      CNI_ERR.INCOMPATIBLE_VERSION,
    );
  }
  assert.doesNotThrow(() => requireVersionFor('ADD', '0.3.0'));
  assert.equal(parseRequest({ CNI_COMMAND: 'STATUS' }, conf()).command, 'STATUS');
});

test('CHECK without prevResult: code 7', () => {
  assert.equal(
    cniCode(() => parseRequest({ ...addEnv, CNI_COMMAND: 'CHECK' }, conf())),
    CNI_ERR.INVALID_NETWORK_CONFIG,
  );
});

test('invalid container ID or interface name: code 4', () => {
  assert.equal(cniCode(() => parseRequest({ ...addEnv, CNI_CONTAINERID: '-bad' }, conf())), CNI_ERR.INVALID_ENV);
  assert.equal(cniCode(() => parseRequest({ ...addEnv, CNI_CONTAINERID: 'a/b' }, conf())), CNI_ERR.INVALID_ENV);
  for (const name of ['.', '..', 'a/b', 'a:b', 'a b', 'x'.repeat(16)]) {
    assert.equal(cniCode(() => validateIfName(name)), CNI_ERR.INVALID_ENV, name);
  }
  assert.doesNotThrow(() => validateIfName('x'.repeat(15)));
  assert.doesNotThrow(() => validateIfName('net1'));
});

test('CNI_NETNS must be an absolute path without white space: code 4 naming it (not checked on DEL)', () => {
  for (const netns of ['pod1', 'run/netns/pod1', '/var/run/netns/a b']) {
    const e = cniErr(() => parseRequest({ ...addEnv, CNI_NETNS: netns }, conf()));
    assert.equal(e.code, CNI_ERR.INVALID_ENV, netns);
    assert.match(e.message, /^CNI_NETNS: /);
    assert.equal(cniCode(() => parseRequest({ ...addEnv, CNI_COMMAND: 'CHECK', CNI_NETNS: netns }, conf({ prevResult: {} }))), CNI_ERR.INVALID_ENV);
    assert.doesNotThrow(() => parseRequest({ ...addEnv, CNI_COMMAND: 'DEL', CNI_NETNS: netns }, conf()));
  }
  assert.doesNotThrow(() => validateNetns('/proc/1234/ns/net'));
  assert.doesNotThrow(() => validateNetns('/var/run/netns/cni-1b2c'));
});

test('network config validation: code 7', () => {
  const bad = [
    { cniVersion: '1.1.0', type: 'membrane-cni' },
    { cniVersion: '1.1.0', name: 'membrane' },
    { cniVersion: '1.1.0', name: 'bad name', type: 'membrane-cni' },
    { cniVersion: '1.1.0', name: 'membrane', type: 'membrane-cni', agentSocket: 5 },
    { cniVersion: '1.1.0', name: 'membrane', type: 'membrane-cni', prevResult: 'x' },
    { cniVersion: '1.1.0', name: 'membrane', type: 'membrane-cni', runtimeConfig: [] },
  ];
  for (const c of bad) assert.equal(cniCode(() => parseNetworkConfig(JSON.stringify(c))), CNI_ERR.INVALID_NETWORK_CONFIG);
});

test('ipam on ADD is an unsupported field (code 2), ignored on DEL', () => {
  const withIpam = conf({ ipam: { type: 'host-local' } });
  const e = cniErr(() => parseRequest(addEnv, withIpam));
  assert.equal(e.code, CNI_ERR.UNSUPPORTED_FIELD);
  assert.match(e.message, /ipam/);
  assert.match(e.message, /host-local/);
  assert.equal(parseRequest({ ...addEnv, CNI_COMMAND: 'DEL' }, withIpam).command, 'DEL');
});

test('agent socket: config, then MEMBRANE_SOCKET, then default', () => {
  const env = { ...addEnv, MEMBRANE_SOCKET: '/run/env.sock' };
  assert.equal((parseRequest(env, conf({ agentSocket: '/run/conf.sock' })) as AttachmentSpec).socketPath, '/run/conf.sock');
  assert.equal((parseRequest(env, conf()) as AttachmentSpec).socketPath, '/run/env.sock');
  assert.equal((parseRequest(addEnv, conf()) as AttachmentSpec).socketPath, DEFAULT_SOCKET);
});

test('GC: valid attachments mapped to {containerID, ifName}', () => {
  const spec = parseRequest(
    { CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' },
    conf({
      'cni.dev/valid-attachments': [
        { containerID: 'a1', ifname: 'eth0' },
        { containerID: 'b2', ifname: 'net1' },
      ],
    }),
  ) as GcSpec;
  assert.equal(spec.command, 'GC');
  assert.deepEqual(spec.validAttachments, [
    { containerID: 'a1', ifName: 'eth0' },
    { containerID: 'b2', ifName: 'net1' },
  ]);
  // The older key is accepted too.
  const old = parseRequest({ CNI_COMMAND: 'GC' }, conf({ 'cni.dev/attachments': [{ containerID: 'x', ifname: 'eth0' }] })) as GcSpec;
  assert.deepEqual(old.validAttachments, [{ containerID: 'x', ifName: 'eth0' }]);
  // An empty list is a real answer: nothing is valid.
  assert.deepEqual((parseRequest({ CNI_COMMAND: 'GC' }, conf({ 'cni.dev/valid-attachments': [] })) as GcSpec).validAttachments, []);
});

test('GC: missing or malformed list is code 7', () => {
  assert.equal(cniCode(() => parseRequest({ CNI_COMMAND: 'GC' }, conf())), CNI_ERR.INVALID_NETWORK_CONFIG);
  assert.equal(
    cniCode(() => parseRequest({ CNI_COMMAND: 'GC' }, conf({ 'cni.dev/valid-attachments': {} }))),
    CNI_ERR.INVALID_NETWORK_CONFIG,
  );
  assert.equal(
    cniCode(() => parseRequest({ CNI_COMMAND: 'GC' }, conf({ 'cni.dev/valid-attachments': [{ containerID: 'a' }] }))),
    CNI_ERR.INVALID_NETWORK_CONFIG,
  );
});

test('version helpers', () => {
  assert.ok(compareVersions('0.4.0', '0.3.1') > 0);
  assert.ok(compareVersions('0.10.0', '0.9.0') > 0);
  assert.equal(compareVersions('1.1.0', '1.1.0'), 0);
  assert.equal(peekVersion(conf({}, '0.3.1')), '0.3.1');
  assert.equal(peekVersion(conf({}, '7.0.0')), undefined);
  assert.equal(peekVersion('nope'), undefined);
  assert.equal(peekVersion('null'), undefined);
});
