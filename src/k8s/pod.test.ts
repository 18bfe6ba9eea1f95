import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type PodSpec, findNamedPort } from './pod.ts';
import { Checker } from './problems.ts';
import { validateObject } from './registry.ts';

function pod(spec: unknown, metadata: unknown = { name: 'web' }): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
}

function check(raw: Record<string, unknown>): { spec?: PodSpec; problems: string[] } {
  const c = new Checker('doc 1');
  const obj = validateObject(c, raw);
  const problems = c.problems.map((p) => `${p.field}: ${p.reason}`);
  if (obj?.kind === 'Pod') return { spec: obj.spec, problems };
  return { problems };
}

describe('v1 Pod', () => {
  it('keeps identity, labels and container ports, defaulting protocol to TCP and namespace to default', () => {
    const { spec, problems } = check(
      pod(
        {
          containers: [
            { name: 'app', image: 'nginx', ports: [{ name: 'http', containerPort: 80 }, { containerPort: 9090, protocol: 'UDP' }] },
            { name: 'sidecar', ports: [{ name: 'metrics', containerPort: 9100, protocol: 'TCP', hostPort: 9100 }] },
            { name: 'noports' },
          ],
          unknownField: 'ignored',
        },
        { name: 'web', labels: { app: 'web' }, annotations: { 'anything goes': '!!' } },
      ),
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(spec, {
      namespace: 'default',
      name: 'web',
      labels: { app: 'web' },
      hostNetwork: false,
      containers: [
        { name: 'app', ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }, { containerPort: 9090, protocol: 'UDP' }] },
        { name: 'sidecar', ports: [{ name: 'metrics', containerPort: 9100, protocol: 'TCP', hostPort: 9100 }] },
        { name: 'noports', ports: [] },
      ],
    });
  });

  it('reads hostNetwork', () => {
    assert.equal(check(pod({ hostNetwork: true, containers: [{ name: 'a' }] })).spec?.hostNetwork, true);
  });

  it('resolves named ports by name and protocol, first container first', () => {
    const { spec } = check(
      pod({
        containers: [
          { name: 'a', ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'web', containerPort: 8080 }] },
          { name: 'b', ports: [{ name: 'dns', containerPort: 5353 }, { name: 'web', containerPort: 9999 }] },
        ],
      }),
    );
    assert.ok(spec);
    assert.equal(findNamedPort(spec, 'dns', 'UDP'), 53);
    assert.equal(findNamedPort(spec, 'dns'), 5353);
    assert.equal(findNamedPort(spec, 'web'), 8080);
    assert.equal(findNamedPort(spec, 'web', 'SCTP'), undefined);
    assert.equal(findNamedPort(spec, 'nope'), undefined);
  });

  it('validates ports: number range, protocol, IANA names, uniqueness within a container', () => {
    const { spec, problems } = check(
      pod({
        containers: [
          {
            name: 'app',
            ports: [
              { name: 'http', containerPort: 80 },
              { name: 'http', containerPort: 81 },
              { containerPort: 0 },
              { containerPort: 65536 },
              { containerPort: 80, protocol: 'tcp' },
              { containerPort: 80, protocol: 'ICMP' },
              { name: 'HTTP', containerPort: 80 },
              { name: 'a-very-long-port-name', containerPort: 80 },
              { name: '8080', containerPort: 80 },
              { name: '-x', containerPort: 80 },
              { name: 'a--b', containerPort: 80 },
              { name: 'ok' },
              { containerPort: '80' },
              { containerPort: 80, hostPort: 70000 },
              'not-an-object',
            ],
          },
          { name: 'other', ports: [{ name: 'http', containerPort: 80 }] },
        ],
      }),
    );
    assert.equal(spec, undefined);
    const p = 'spec.containers[0].ports';
    assert.deepEqual(problems, [
      `${p}[1].name: duplicate port name "http" (also ports[0])`,
      `${p}[2].containerPort: required`,
      `${p}[3].containerPort: invalid port 65536: must be between 1 and 65535, inclusive`,
      `${p}[4].protocol: unsupported value "tcp": must be one of "TCP", "UDP", "SCTP"`,
      `${p}[5].protocol: unsupported value "ICMP": must be one of "TCP", "UDP", "SCTP"`,
      `${p}[6].name: invalid port name "HTTP": must contain only lower case alphanumeric characters (a-z, 0-9) and hyphens (-); must contain at least one letter (a-z)`,
      `${p}[7].name: invalid port name "a-very-long-port-name": must be no more than 15 characters`,
      `${p}[8].name: invalid port name "8080": must contain at least one letter (a-z)`,
      `${p}[9].name: invalid port name "-x": must not begin or end with a hyphen`,
      `${p}[10].name: invalid port name "a--b": must not contain consecutive hyphens`,
      `${p}[11].containerPort: required`,
      `${p}[12].containerPort: must be an integer, got a string ("80")`,
      `${p}[13].hostPort: invalid port 70000: must be between 1 and 65535, inclusive`,
      `${p}[14]: must be an object, got a string ("not-an-object")`,
    ]);
  });

  it('requires spec and at least one container, with unique DNS-label names', () => {
    assert.deepEqual(check(pod(undefined)).problems, ['spec: required']);
    assert.deepEqual(check(pod({})).problems, ['spec.containers: required']);
    assert.deepEqual(check(pod({ containers: [] })).problems, ['spec.containers: must have at least one container']);
    assert.deepEqual(check(pod({ containers: [{ name: 'a' }, { name: 'a' }, {}, { name: 'B' }] })).problems, [
      'spec.containers[1].name: duplicate container name "a" (also containers[0])',
      'spec.containers[2].name: required',
      'spec.containers[3].name: invalid name "B": must consist of lower case alphanumeric characters or \'-\', and must start and end with an alphanumeric character (a lowercase RFC 1123 label, e.g. \'my-name\' or \'123-abc\')',
    ]);
  });

  it('uses the DNS-1123 subdomain rule for the pod name', () => {
    assert.deepEqual(check(pod({ containers: [{ name: 'a' }] }, { name: 'web.v2-1' })).problems, []);
    const { problems } = check(pod({ containers: [{ name: 'a' }] }, { name: 'Web' }));
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /^metadata\.name: invalid name "Web": .*RFC 1123 subdomain/);
  });

  it('reports metadata and spec problems together', () => {
    const { problems } = check(pod({ containers: [{ name: 'a', ports: [{ containerPort: 0 }] }] }, { name: 'Web', labels: { app: '-' } }));
    assert.equal(problems.length, 3);
  });
});
