import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EndpointJSON } from '../agent/api-types.ts';
import { MembraneError } from '../errors.ts';
import { CNI_ERR } from './errors.ts';
import { endpointPath, runCni, type AgentApi } from './plugin.ts';

const endpoint: EndpointJSON = {
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

interface Call {
  method: string;
  path: string;
  body?: unknown;
}

/** A fake agent: records calls, answers from `handlers` (which may throw). */
function fakeAgent(handlers: Partial<Record<string, (path: string, body?: unknown) => unknown>> = {}) {
  const calls: Call[] = [];
  const answer = async (method: string, p: string, body?: unknown): Promise<never> => {
    calls.push(body === undefined ? { method, path: p } : { method, path: p, body });
    const h = handlers[method];
    return (h ? h(p, body) : { ok: true }) as never;
  };
  const client: AgentApi = {
    get: (p) => answer('GET', p),
    put: (p, b) => answer('PUT', p, b),
    post: (p, b) => answer('POST', p, b),
    delete: (p, b) => answer('DELETE', p, b),
  };
  return { client, calls };
}

const conf = (extra: Record<string, unknown> = {}, version = '1.1.0'): string =>
  JSON.stringify({ cniVersion: version, name: 'membrane', type: 'membrane-cni', ...extra });

const env = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c0ffee',
  CNI_NETNS: '/var/run/netns/pod1',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
  CNI_ARGS: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0',
};

function parsed(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout) as Record<string, unknown>;
}

test('VERSION prints the supported versions', async () => {
  const { client, calls } = fakeAgent();
  const out = await runCni({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.1.0"}', client);
  assert.equal(out.exitCode, 0);
  assert.deepEqual(parsed(out.stdout), {
    cniVersion: '1.1.0',
    supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
  });
  assert.equal(calls.length, 0);
});

test('ADD: PUT /v1/endpoints and print the result', async () => {
  const { client, calls } = fakeAgent({ PUT: () => endpoint });
  const out = await runCni(env, conf(), client);
  assert.equal(out.exitCode, 0, out.stdout);
  assert.deepEqual(calls, [
    {
      method: 'PUT',
      path: '/v1/endpoints',
      body: { containerID: 'c0ffee', ifName: 'eth0', netns: '/var/run/netns/pod1', podNamespace: 'default', podName: 'web-0' },
    },
  ]);
  const r = parsed(out.stdout);
  assert.equal(r.cniVersion, '1.1.0');
  assert.deepEqual(r.interfaces, [
    { name: 'lxc1a2b3c4d', mac: '0a:58:0a:c8:00:01' },
    { name: 'eth0', mac: '0a:58:0a:c8:00:05', sandbox: '/var/run/netns/pod1' },
  ]);
  assert.deepEqual(r.ips, [{ address: '10.200.0.5/32', gateway: '10.200.0.1', interface: 1 }]);
  assert.deepEqual(r.routes, [{ dst: '0.0.0.0/0', gw: '10.200.0.1' }]);
});

test('ADD on 0.3.1 answers in 0.3.1 with ip versions', async () => {
  const { client } = fakeAgent({ PUT: () => endpoint });
  const out = await runCni(env, conf({}, '0.3.1'), client);
  const r = parsed(out.stdout);
  assert.equal(r.cniVersion, '0.3.1');
  assert.deepEqual(r.ips, [{ version: '4', address: '10.200.0.5/32', gateway: '10.200.0.1', interface: 1 }]);
});

test('ADD without K8S args sends no pod fields', async () => {
  const { client, calls } = fakeAgent({ PUT: () => endpoint });
  await runCni({ ...env, CNI_ARGS: '' }, conf(), client);
  assert.deepEqual(calls[0]?.body, { containerID: 'c0ffee', ifName: 'eth0', netns: '/var/run/netns/pod1' });
});

test('ADD errors: agent unreachable is 5, agent errors keep their meaning', async () => {
  const cases: Array<[MembraneError, number]> = [
    [new MembraneError('AGENT_UNREACHABLE', 'cannot reach the agent: connect ENOENT'), 5],
    [new MembraneError('IPAM_EXHAUSTED', 'no free address in 10.200.0.0/24', { details: { status: 409 } }), 11],
    [new MembraneError('NETLINK_FAILED', 'ip link add failed', { details: { status: 500 } }), CNI_ERR.INTERNAL],
  ];
  for (const [err, code] of cases) {
    const { client } = fakeAgent({
      PUT: () => {
        throw err;
      },
    });
    const out = await runCni(env, conf({}, '1.0.0'), client);
    assert.equal(out.exitCode, 1);
    const e = parsed(out.stdout);
    assert.equal(e.code, code, err.code);
    assert.equal(e.cniVersion, '1.0.0', 'errors answer in the request version');
    assert.equal(e.msg, err.message);
  }
});

test('garbage stdin: code 6, nothing sent to the agent', async () => {
  const { client, calls } = fakeAgent();
  const out = await runCni(env, '{{{', client);
  assert.equal(out.exitCode, 1);
  assert.equal(parsed(out.stdout).code, 6);
  assert.equal(parsed(out.stdout).cniVersion, '1.1.0');
  assert.equal(calls.length, 0);
});

test('missing variables: code 4 naming them', async () => {
  for (const name of ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_IFNAME']) {
    const e: Record<string, string> = { ...env };
    delete e[name];
    const out = await runCni(e, conf(), fakeAgent().client);
    assert.equal(out.exitCode, 1);
    const r = parsed(out.stdout);
    assert.equal(r.code, 4);
    assert.match(String(r.msg), new RegExp(name));
  }
});

test('unknown version: code 1', async () => {
  const out = await runCni(env, conf({}, '2.0.0'), fakeAgent().client);
  assert.equal(out.exitCode, 1);
  const r = parsed(out.stdout);
  assert.equal(r.code, 1);
  assert.equal(r.cniVersion, '1.1.0');
});

test('DEL: idempotent, works without netns, URL-encodes', async () => {
  const { client, calls } = fakeAgent({ DELETE: () => undefined });
  const e = { ...env, CNI_COMMAND: 'DEL', CNI_NETNS: '', CNI_CONTAINERID: 'pod.1_a-b', CNI_IFNAME: 'net%1' };
  const out = await runCni(e, conf(), client);
  assert.equal(out.exitCode, 0, out.stdout);
  assert.equal(out.stdout, '');
  assert.deepEqual(calls, [{ method: 'DELETE', path: '/v1/endpoints/pod.1_a-b/net%251' }]);

  const { client: gone } = fakeAgent({
    DELETE: () => {
      throw new MembraneError('NOT_FOUND', 'no such endpoint');
    },
  });
  const noEnv = { ...env, CNI_COMMAND: 'DEL' } as Record<string, string | undefined>;
  delete noEnv.CNI_NETNS;
  const again = await runCni(noEnv, conf(), gone);
  assert.equal(again.exitCode, 0);
  assert.equal(again.stdout, '');
});

test('DEL: agent unreachable is an error (the runtime retries)', async () => {
  const { client } = fakeAgent({
    DELETE: () => {
      throw new MembraneError('AGENT_UNREACHABLE', 'cannot reach the agent');
    },
  });
  const out = await runCni({ ...env, CNI_COMMAND: 'DEL' }, conf(), client);
  assert.equal(out.exitCode, 1);
  assert.equal(parsed(out.stdout).code, 5);
});

const prevResult = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'lxc1a2b3c4d', mac: '0a:58:0a:c8:00:01' },
    { name: 'eth0', mac: '0a:58:0a:c8:00:05', sandbox: '/var/run/netns/pod1' },
  ],
  ips: [{ address: '10.200.0.5/32', gateway: '10.200.0.1', interface: 1 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.200.0.1' }],
  dns: {},
};

test('CHECK: validates prevResult and asks the agent', async () => {
  const { client, calls } = fakeAgent({ GET: () => ({ ok: true }) });
  const out = await runCni({ ...env, CNI_COMMAND: 'CHECK' }, conf({ prevResult }), client);
  assert.equal(out.exitCode, 0, out.stdout);
  assert.equal(out.stdout, '');
  assert.deepEqual(calls, [{ method: 'GET', path: '/v1/endpoints/c0ffee/eth0/check' }]);
});

test('CHECK: compares prevResult with the endpoint the agent reports', async () => {
  const ok = fakeAgent({ GET: () => ({ ok: true, endpoint }) });
  assert.equal((await runCni({ ...env, CNI_COMMAND: 'CHECK' }, conf({ prevResult }), ok.client)).exitCode, 0);

  const moved = fakeAgent({ GET: () => ({ ok: true, endpoint: { ...endpoint, ipv4: '10.200.0.9' } }) });
  const out = await runCni({ ...env, CNI_COMMAND: 'CHECK' }, conf({ prevResult }), moved.client);
  assert.equal(out.exitCode, 1);
  const e = parsed(out.stdout);
  assert.equal(e.code, CNI_ERR.ATTACHMENT_MISMATCH);
  assert.match(String(e.msg), /10\.200\.0\.9/);
});

test('CHECK: prevResult without our interface fails before calling the agent', async () => {
  const { client, calls } = fakeAgent();
  const prev = { ...prevResult, interfaces: [prevResult.interfaces[0]] };
  const out = await runCni({ ...env, CNI_COMMAND: 'CHECK' }, conf({ prevResult: prev }), client);
  assert.equal(out.exitCode, 1);
  assert.equal(parsed(out.stdout).code, CNI_ERR.ATTACHMENT_MISMATCH);
  assert.equal(calls.length, 0);
});

test('CHECK: agent conflict and not-found map to 100 and 3', async () => {
  const cases: Array<[MembraneError, number]> = [
    [new MembraneError('CONFLICT', 'host veth lxc1a2b3c4d is down', { details: { status: 409 } }), 100],
    [new MembraneError('NOT_FOUND', 'no endpoint c0ffee/eth0', { details: { status: 404 } }), 3],
  ];
  for (const [err, code] of cases) {
    const { client } = fakeAgent({
      GET: () => {
        throw err;
      },
    });
    const out = await runCni({ ...env, CNI_COMMAND: 'CHECK' }, conf({ prevResult }), client);
    assert.equal(out.exitCode, 1);
    const r = parsed(out.stdout);
    assert.equal(r.code, code);
    assert.equal(r.msg, err.message);
  }
});

test('CHECK on 0.3.1: code 1', async () => {
  const { client, calls } = fakeAgent();
  const out = await runCni({ ...env, CNI_COMMAND: 'CHECK' }, conf({ prevResult }, '0.3.1'), client);
  assert.equal(out.exitCode, 1);
  const r = parsed(out.stdout);
  assert.equal(r.code, 1);
  assert.equal(r.cniVersion, '0.3.1');
  assert.equal(calls.length, 0);
});

test('STATUS: silent success when healthz answers, 50 otherwise', async () => {
  const up = fakeAgent({ GET: () => ({ status: 'ok' }) });
  const ok = await runCni({ CNI_COMMAND: 'STATUS' }, conf(), up.client);
  assert.deepEqual(ok, { stdout: '', exitCode: 0 });
  assert.deepEqual(up.calls, [{ method: 'GET', path: '/v1/healthz' }]);

  for (const err of [
    new MembraneError('AGENT_UNREACHABLE', 'cannot reach the agent'),
    new MembraneError('INTERNAL', 'datapath not loaded', { details: { status: 503 } }),
  ]) {
    const down = fakeAgent({
      GET: () => {
        throw err;
      },
    });
    const out = await runCni({ CNI_COMMAND: 'STATUS' }, conf(), down.client);
    assert.equal(out.exitCode, 1);
    const r = parsed(out.stdout);
    assert.equal(r.code, 50);
    assert.match(String(r.msg), new RegExp(err.message));
  }
});

test('STATUS on 1.0.0: code 1', async () => {
  const out = await runCni({ CNI_COMMAND: 'STATUS' }, conf({}, '1.0.0'), fakeAgent().client);
  assert.equal(parsed(out.stdout).code, 1);
});

test('GC: posts the valid attachments', async () => {
  const { client, calls } = fakeAgent({ POST: () => ({ removed: [{ containerID: 'old', ifName: 'eth0' }] }) });
  const out = await runCni(
    { CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' },
    conf({ 'cni.dev/valid-attachments': [{ containerID: 'c0ffee', ifname: 'eth0' }] }),
    client,
  );
  assert.deepEqual(out, { stdout: '', exitCode: 0 });
  assert.deepEqual(calls, [
    { method: 'POST', path: '/v1/endpoints/gc', body: { validAttachments: [{ containerID: 'c0ffee', ifName: 'eth0' }] } },
  ]);
});

test('GC without the attachment list does nothing and fails', async () => {
  const { client, calls } = fakeAgent();
  const out = await runCni({ CNI_COMMAND: 'GC' }, conf(), client);
  assert.equal(parsed(out.stdout).code, 7);
  assert.equal(calls.length, 0);
});

test('a client factory gets the configured socket path', async () => {
  const seen: string[] = [];
  const factory = (socketPath: string): AgentApi => {
    seen.push(socketPath);
    return fakeAgent({ PUT: () => endpoint }).client;
  };
  await runCni({ ...env, MEMBRANE_SOCKET: '/run/env.sock' }, conf({ agentSocket: '/run/conf.sock' }), factory);
  await runCni({ ...env, MEMBRANE_SOCKET: '/run/env.sock' }, conf(), factory);
  assert.deepEqual(seen, ['/run/conf.sock', '/run/env.sock']);
});

test('endpointPath encodes segments', () => {
  assert.equal(endpointPath('a/b', 'eth 0'), '/v1/endpoints/a%2Fb/eth%200');
});

test('default client: talks to the agent over the configured unix socket', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'membrane-cni-'));
  const sock = path.join(dir, 'agent.sock');
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    if (req.method === 'PUT') {
      res.end(JSON.stringify(endpoint));
    } else if (req.method === 'DELETE') {
      res.statusCode = 404;
      res.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'no such endpoint' } }));
    } else {
      res.statusCode = 409;
      res.end(JSON.stringify({ error: { code: 'CONFLICT', message: 'pod address differs' } }));
    }
  });
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  t.after(() => {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const withSock = conf({ agentSocket: sock });

  const add = await runCni(env, withSock);
  assert.equal(add.exitCode, 0, add.stdout);
  assert.equal((parsed(add.stdout).ips as unknown[]).length, 1);

  const del = await runCni({ ...env, CNI_COMMAND: 'DEL' }, withSock);
  assert.deepEqual(del, { stdout: '', exitCode: 0 });

  const check = await runCni({ ...env, CNI_COMMAND: 'CHECK' }, conf({ agentSocket: sock, prevResult }));
  assert.equal(check.exitCode, 1);
  assert.equal(parsed(check.stdout).code, 100);
  assert.equal(parsed(check.stdout).msg, 'pod address differs');

  const missing = await runCni(env, conf({ agentSocket: path.join(dir, 'absent.sock') }));
  assert.equal(parsed(missing.stdout).code, 5);

  assert.deepEqual(seen, ['PUT /v1/endpoints', 'DELETE /v1/endpoints/c0ffee/eth0', 'GET /v1/endpoints/c0ffee/eth0/check']);
});
