import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LabelRequirement, PolicyPart, PolicyRule, PolicySpec } from '../policy/types.ts';
import { AggregateInputError, parseManifests } from './documents.ts';
import { Checker } from './problems.ts';
import { validateObject } from './registry.ts';

function cnp(body: Record<string, unknown>, metadata: unknown = { name: 'p', namespace: 'prod' }): Record<string, unknown> {
  return { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata, ...body };
}

function ccnp(body: Record<string, unknown>, metadata: unknown = { name: 'p' }): Record<string, unknown> {
  return { apiVersion: 'cilium.io/v2', kind: 'CiliumClusterwideNetworkPolicy', metadata, ...body };
}

function check(raw: Record<string, unknown>): { spec?: PolicySpec; problems: string[] } {
  const c = new Checker('doc 1');
  const obj = validateObject(c, raw);
  const problems = c.problems.map((p) => `${p.field}: ${p.reason}`);
  if (obj?.kind === 'CiliumNetworkPolicy' || obj?.kind === 'CiliumClusterwideNetworkPolicy') return { spec: obj.spec, problems };
  return { problems };
}

function ok(raw: Record<string, unknown>): PolicySpec {
  const r = check(raw);
  assert.deepEqual(r.problems, []);
  assert.ok(r.spec);
  return r.spec;
}

/** The single part of a CiliumNetworkPolicy in namespace prod with this spec. */
function part(spec: unknown): PolicyPart {
  const p = ok(cnp({ spec })).parts;
  assert.equal(p.length, 1);
  assert.ok(p[0]);
  return p[0];
}

function rules(spec: unknown): PolicyRule[] {
  return part(spec).rules;
}

function problems(raw: Record<string, unknown>): string[] {
  const r = check(raw);
  assert.equal(r.spec, undefined, 'an invalid policy gives no object');
  return r.problems;
}

function specProblems(spec: unknown): string[] {
  return problems(cnp({ spec }));
}

const inProd: LabelRequirement = { key: 'k8s:io.kubernetes.pod.namespace', operator: 'In', values: ['prod'] };
const anyNamespace: LabelRequirement = { key: 'k8s:io.kubernetes.pod.namespace', operator: 'Exists', values: [] };
const label = (key: string, value: string): LabelRequirement => ({ key, operator: 'In', values: [value] });
const ALL = { endpointSelector: {} };

describe('cilium.io/v2 CiliumNetworkPolicy', () => {
  it('confines the subject to its namespace; `ingress: [{}]` is default deny that allows nothing', () => {
    assert.deepEqual(ok(cnp({ spec: { endpointSelector: { matchLabels: { app: 'web' } }, ingress: [{}] } })), {
      kind: 'CiliumNetworkPolicy',
      namespace: 'prod',
      name: 'p',
      parts: [
        {
          subject: { requirements: [inProd, label('any:app', 'web')] },
          defaultDeny: { ingress: true, egress: false },
          rules: [{ direction: 'ingress', deny: false, peers: [], ports: [], path: 'spec.ingress[0]' }],
          path: 'spec',
        },
      ],
    });
  });

  it('reads Cilium selector keys: source:key, no source = any, $name = reserved', () => {
    const p = part({
      endpointSelector: {
        matchLabels: { 'k8s:app': 'web', tier: 'front', 'any:x': '1' },
        matchExpressions: [{ key: 'k8s:env', operator: 'NotIn', values: ['dev'] }],
      },
      egress: [{ toEndpoints: [{ matchLabels: { 'reserved:host': '' } }, { matchLabels: { $world: '' } }] }],
    });
    assert.deepEqual(p.subject.requirements, [
      inProd,
      label('k8s:app', 'web'),
      label('any:tier', 'front'),
      label('any:x', '1'),
      { key: 'k8s:env', operator: 'NotIn', values: ['dev'] },
    ]);
    assert.deepEqual(p.rules[0]?.peers, [
      { type: 'endpoints', selector: { requirements: [label('reserved:host', '')] } },
      { type: 'endpoints', selector: { requirements: [label('reserved:world', '')] } },
    ]);
  });

  it('confines endpoint peers to the namespace unless they name the namespace, namespace labels or a reserved label', () => {
    const r = rules({
      ...ALL,
      ingress: [
        {
          fromEndpoints: [
            {},
            { matchLabels: { app: 'a' } },
            { matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'other', app: 'b' } },
            { matchLabels: { 'io.kubernetes.pod.namespace': 'other' } },
            { matchExpressions: [{ key: 'io.kubernetes.pod.namespace', operator: 'Exists' }] },
            { matchLabels: { 'io.cilium.k8s.namespace.labels.team': 'x' } },
            { matchLabels: { 'reserved:health': '' } },
          ],
        },
      ],
    });
    assert.deepEqual(r[0]?.peers, [
      { type: 'endpoints', selector: { requirements: [inProd] } },
      { type: 'endpoints', selector: { requirements: [inProd, label('any:app', 'a')] } },
      { type: 'endpoints', selector: { requirements: [label('k8s:io.kubernetes.pod.namespace', 'other'), label('any:app', 'b')] } },
      { type: 'endpoints', selector: { requirements: [label('k8s:io.kubernetes.pod.namespace', 'other')] } },
      { type: 'endpoints', selector: { requirements: [anyNamespace] } },
      { type: 'endpoints', selector: { requirements: [label('any:io.cilium.k8s.namespace.labels.team', 'x')] } },
      { type: 'endpoints', selector: { requirements: [label('reserved:health', '')] } },
    ]);
  });

  describe('rules', () => {
    it('peers given → those peers; only toPorts → every peer; {} → none; a peer list written empty → none', () => {
      const p80 = { toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }] };
      const r = rules({
        ...ALL,
        ingress: [{ fromEntities: ['world'], ...p80 }, p80, {}, { fromEndpoints: [], ...p80 }, { fromEntities: ['cluster'] }, { toPorts: [] }],
      });
      assert.deepEqual(
        r.map((x) => [x.path, x.peers, x.ports]),
        [
          ['spec.ingress[0]', [{ type: 'entity', entity: 'world' }], [{ protocol: 'TCP', port: 80 }]],
          ['spec.ingress[1]', 'all', [{ protocol: 'TCP', port: 80 }]],
          ['spec.ingress[2]', [], []],
          ['spec.ingress[3]', [], [{ protocol: 'TCP', port: 80 }]],
          ['spec.ingress[4]', [{ type: 'entity', entity: 'cluster' }], []],
          ['spec.ingress[5]', [], []],
        ],
      );
    });

    it('ingressDeny and egressDeny are deny rules and also make default deny', () => {
      const p = part({ ...ALL, ingressDeny: [{ fromCIDR: ['198.51.100.0/24'] }], egressDeny: [{ toEntities: ['world'], toPorts: [{ ports: [{ port: '25' }] }] }] });
      assert.deepEqual(p.defaultDeny, { ingress: true, egress: true });
      assert.deepEqual(p.rules, [
        { direction: 'ingress', deny: true, peers: [{ type: 'cidr', cidr: '198.51.100.0/24', except: [] }], ports: [], path: 'spec.ingressDeny[0]' },
        { direction: 'egress', deny: true, peers: [{ type: 'entity', entity: 'world' }], ports: [{ protocol: 'ANY', port: 25 }], path: 'spec.egressDeny[0]' },
      ]);
    });

    it('toPorts: numbers, names (case-insensitive), "0" = every port, ranges, protocol defaults to ANY', () => {
      const r = rules({
        ...ALL,
        egress: [
          {
            toPorts: [
              { ports: [{ port: '53', protocol: 'UDP' }, { port: 'HTTP' }, { port: '0', protocol: 'TCP' }] },
              { ports: [{ port: '8000', endPort: 8100, protocol: 'SCTP' }, { port: '9000', endPort: 0 }, { port: '443', protocol: 'ANY' }] },
            ],
          },
        ],
      });
      assert.deepEqual(r[0]?.ports, [
        { protocol: 'UDP', port: 53 },
        { protocol: 'ANY', port: 'http' },
        { protocol: 'TCP' },
        { protocol: 'SCTP', port: 8000, endPort: 8100 },
        { protocol: 'ANY', port: 9000 },
        { protocol: 'ANY', port: 443 },
      ]);
    });

    it('CIDR peers: bare addresses are /32, host bits are cleared, except may equal cidr', () => {
      const r = rules({
        ...ALL,
        egress: [{ toCIDR: ['192.0.2.7', '10.1.2.3/8'] }, { toCIDRSet: [{ cidr: '172.16.0.0/12', except: ['172.16.5.0/24', '172.16.0.0/12'] }, { cidr: '0.0.0.0/0' }] }],
      });
      assert.deepEqual(r.map((x) => x.peers), [
        [
          { type: 'cidr', cidr: '192.0.2.7/32', except: [] },
          { type: 'cidr', cidr: '10.0.0.0/8', except: [] },
        ],
        [
          { type: 'cidr', cidr: '172.16.0.0/12', except: ['172.16.5.0/24', '172.16.0.0/12'] },
          { type: 'cidr', cidr: '0.0.0.0/0', except: [] },
        ],
      ]);
    });

    it('entities, and `none`, which selects nothing', () => {
      const r = rules({ ...ALL, egress: [{ toEntities: ['all', 'host', 'remote-node', 'health', 'unmanaged', 'init', 'kube-apiserver'] }, { toEntities: ['none'] }] });
      assert.deepEqual(r.map((x) => x.peers), [
        ['all', 'host', 'remote-node', 'health', 'unmanaged', 'init', 'kube-apiserver'].map((entity) => ({ type: 'entity', entity })),
        [],
      ]);
    });
  });

  describe('enableDefaultDeny', () => {
    it('defaults to true for each direction with rules, false otherwise', () => {
      assert.deepEqual(part({ ...ALL, egress: [{ toEntities: ['world'] }] }).defaultDeny, { ingress: false, egress: true });
      assert.deepEqual(part({ ...ALL, ingress: [{}], egressDeny: [{ toEntities: ['world'] }] }).defaultDeny, { ingress: true, egress: true });
    });

    it('keeps explicit values', () => {
      assert.deepEqual(part({ ...ALL, egress: [{ toEntities: ['world'] }], enableDefaultDeny: { egress: false } }).defaultDeny, { ingress: false, egress: false });
      assert.deepEqual(part({ ...ALL, egress: [{}], enableDefaultDeny: { ingress: true, egress: false } }).defaultDeny, { ingress: true, egress: false });
    });

    it('rejects non-booleans and unknown directions', () => {
      assert.deepEqual(specProblems({ ...ALL, ingress: [{}], enableDefaultDeny: { ingress: 'no', Egress: false } }), [
        'spec.enableDefaultDeny.Egress: unknown field "Egress": did you mean "egress"? known fields: ingress, egress',
        'spec.enableDefaultDeny.ingress: must be a boolean, got a string ("no")',
      ]);
    });
  });

  it('specs: one part per rule, spec first', () => {
    const spec = ok(
      cnp({
        spec: { endpointSelector: { matchLabels: { app: 'a' } }, ingress: [{}] },
        specs: [
          { endpointSelector: { matchLabels: { app: 'b' } }, egress: [{ toEndpoints: [{}] }] },
          { endpointSelector: {}, ingressDeny: [{ fromEntities: ['world'] }], description: 'no world' },
        ],
      }),
    );
    assert.deepEqual(
      spec.parts.map((p) => [p.path, p.subject.requirements, p.rules.map((r) => r.path)]),
      [
        ['spec', [inProd, label('any:app', 'a')], ['spec.ingress[0]']],
        ['specs[0]', [inProd, label('any:app', 'b')], ['specs[0].egress[0]']],
        ['specs[1]', [inProd], ['specs[1].ingressDeny[0]']],
      ],
    );
    assert.equal(ok(cnp({ specs: [{ ...ALL, ingress: [{}] }] })).parts[0]?.path, 'specs[0]');
  });

  describe('invalid input', () => {
    it('needs spec or specs, an endpointSelector, and at least one rule', () => {
      assert.deepEqual(problems(cnp({})), ['spec: required: a policy needs spec or specs (a list of rules)']);
      assert.deepEqual(problems(cnp({ specs: [] })), ['specs: must have at least one rule']);
      assert.deepEqual(specProblems({ ingress: [{}] }), ['spec.endpointSelector: required (use endpointSelector: {} to select every endpoint)']);
      assert.deepEqual(specProblems({ ...ALL, ingress: [], enableDefaultDeny: { ingress: true } }), [
        'spec: must have at least one rule in ingress, ingressDeny, egress, egressDeny (ingress: [{}] puts endpoints into default deny for ingress)',
      ]);
    });

    it('host policies are not supported', () => {
      assert.deepEqual(problems(ccnp({ spec: { nodeSelector: {}, ingress: [{}] } })), [
        'spec.nodeSelector: host policies are not supported: nodeSelector selects nodes; select endpoints with endpointSelector',
      ]);
    });

    it('a CiliumNetworkPolicy may not select endpoints of another namespace', () => {
      assert.deepEqual(specProblems({ endpointSelector: { matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'other' } }, ingress: [{}] }), [
        'spec.endpointSelector: selects namespace "other", but a CiliumNetworkPolicy applies only to endpoints of its own namespace "prod": use a CiliumClusterwideNetworkPolicy',
      ]);
      assert.deepEqual(part({ endpointSelector: { matchLabels: { 'io.kubernetes.pod.namespace': 'prod' } }, ingress: [{}] }).subject.requirements, [inProd, inProd]);
    });

    it('selector keys: sources k8s, reserved, any; known reserved names; operators', () => {
      assert.deepEqual(
        specProblems({
          endpointSelector: { matchLabels: { 'container:app': 'x', 'reserved:hots': '' }, matchExpressions: [{ key: 'app', operator: 'Exist' }] },
          ingress: [{}],
        }),
        [
          'spec.endpointSelector.matchLabels["container:app"]: invalid key "container:app": unsupported label source "container": must be k8s, reserved, any (no prefix means any)',
          'spec.endpointSelector.matchLabels["reserved:hots"]: invalid key "reserved:hots": unknown reserved label "hots": must be one of host, world, unmanaged, health, init, remote-node, kube-apiserver',
          'spec.endpointSelector.matchExpressions[0].operator: not a valid selector operator "Exist": must be one of "In", "NotIn", "Exists", "DoesNotExist" (did you mean "Exists"?)',
        ],
      );
    });

    it('unknown entities are listed with the valid ones', () => {
      assert.deepEqual(specProblems({ ...ALL, egress: [{ toEntities: ['world', 'internet', 'Host', 'ingress'] }] }), [
        'spec.egress[0].toEntities[1]: unknown entity "internet": must be one of all, world, cluster, host, remote-node, health, unmanaged, init, kube-apiserver, none',
        'spec.egress[0].toEntities[2]: unknown entity "Host": must be one of all, world, cluster, host, remote-node, health, unmanaged, init, kube-apiserver, none (did you mean "host"?)',
        'spec.egress[0].toEntities[3]: entity "ingress" is not supported (Cilium\'s Envoy ingress)',
      ]);
    });

    it('L7 rules are not supported yet (an empty rules block is fine)', () => {
      assert.deepEqual(specProblems({ ...ALL, ingress: [{ toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }], rules: { http: [{ method: 'GET' }] } }] }] }), [
        'spec.ingress[0].toPorts[0].rules: L7 rules are not supported yet',
      ]);
      assert.equal(rules({ ...ALL, ingress: [{ toPorts: [{ ports: [{ port: '80' }], rules: { http: [] } }] }] }).length, 1);
    });

    it('names fields that are not supported, and unknown fields', () => {
      assert.deepEqual(
        specProblems({
          ...ALL,
          ingress: [{ fromRequires: [{}], icmps: [{}], fromEndpoint: [{}] }],
          egress: [{ toFQDNs: [{ matchName: 'example.com' }], toServices: [{}] }],
        }),
        [
          'spec.ingress[0].fromRequires: not supported (requirement rules; Cilium deprecates them)',
          'spec.ingress[0].icmps: not supported (ICMP rules)',
          'spec.ingress[0].fromEndpoint: unknown field "fromEndpoint": did you mean "fromEndpoints"? known fields: fromEndpoints, fromCIDR, fromCIDRSet, fromEntities, toPorts',
          'spec.egress[0].toFQDNs: not supported (DNS-based rules need a DNS proxy)',
          "spec.egress[0].toServices: not supported (service selectors): select the service's pods with toEndpoints",
        ],
      );
    });

    it('ports: range, leading zeros, required, strings only; endPort rules', () => {
      assert.deepEqual(
        specProblems({
          ...ALL,
          ingress: [
            {
              toPorts: [
                {
                  ports: [
                    { port: '65536' },
                    { port: '080' },
                    { protocol: 'TCP' },
                    { port: 80 },
                    { port: 'bad_name' },
                    { port: '2000', endPort: 1000 },
                    { port: 'http', endPort: 90 },
                    { port: '0', endPort: 90 },
                    { port: '1', endPort: 65536 },
                  ],
                },
              ],
            },
          ],
        }),
        [
          'spec.ingress[0].toPorts[0].ports[0].port: invalid port "65536": must be between 0 (every port) and 65535, inclusive',
          'spec.ingress[0].toPorts[0].ports[1].port: invalid port "080": must be written without leading zeros',
          'spec.ingress[0].toPorts[0].ports[2].port: required',
          'spec.ingress[0].toPorts[0].ports[3].port: must be a string, got a number (80); quote it',
          'spec.ingress[0].toPorts[0].ports[4].port: invalid port "bad_name": must be a port number (0-65535, 0 for every port) or a port name, which must contain only lower case alphanumeric characters (a-z, 0-9) and hyphens (-)',
          'spec.ingress[0].toPorts[0].ports[5].endPort: invalid value 1000: must be greater than or equal to port (2000)',
          'spec.ingress[0].toPorts[0].ports[6].endPort: may not be specified when port is a name ("http"): ranges need port numbers',
          'spec.ingress[0].toPorts[0].ports[7].endPort: may not be specified when port is "0" (every port)',
          'spec.ingress[0].toPorts[0].ports[8].endPort: invalid port 65536: must be between 1 and 65535, inclusive',
        ],
      );
    });

    it('protocols: TCP, UDP, SCTP, ANY', () => {
      assert.deepEqual(specProblems({ ...ALL, egress: [{ toPorts: [{ ports: [{ port: '0', protocol: 'ICMP' }, { port: '1', protocol: 'tcp' }] }] }] }), [
        'spec.egress[0].toPorts[0].ports[0].protocol: protocol "ICMP" is not supported: Membrane\'s policies match TCP, UDP and SCTP ports (or ANY of them)',
        'spec.egress[0].toPorts[0].ports[1].protocol: unsupported value "tcp": must be one of "TCP", "UDP", "SCTP", "ANY" (did you mean "TCP"?)',
      ]);
    });

    it('a toPorts entry lists 1 to 40 ports', () => {
      const many = Array.from({ length: 41 }, (_, i) => ({ port: String(1000 + i) }));
      assert.deepEqual(specProblems({ ...ALL, egress: [{ toPorts: [{}, { ports: many }] }] }), [
        'spec.egress[0].toPorts[0].ports: required: at least one port (port "0" means every port)',
        'spec.egress[0].toPorts[1].ports: too many ports (41): at most 40 in one toPorts entry',
      ]);
    });

    it('peer kinds may not be combined in one rule', () => {
      assert.deepEqual(specProblems({ ...ALL, ingress: [{ fromEndpoints: [{}], fromCIDR: ['10.0.0.0/8'] }] }), [
        'spec.ingress[0]: combining fromEndpoints and fromCIDR in one rule is not supported (nor by Cilium): write one rule for each',
      ]);
    });

    it('malformed CIDRs and except outside cidr', () => {
      assert.deepEqual(
        specProblems({
          ...ALL,
          egress: [
            { toCIDR: ['10.0.0.0/33', '10.0.0/8', 'abc', 'fd00::/8', ''] },
            { toCIDRSet: [{ cidr: '10.0.0.0/16', except: ['10.1.0.0/24', '10.0.0.0/8'] }, { except: [] }, { cidrGroupRef: 'g' }] },
          ],
        }),
        [
          'spec.egress[0].toCIDR[0]: invalid CIDR "10.0.0.0/33": prefix length must be a number from 0 to 32',
          'spec.egress[0].toCIDR[1]: invalid CIDR "10.0.0/8": must be a valid IPv4 address (e.g. 10.9.8.7)',
          'spec.egress[0].toCIDR[2]: invalid CIDR "abc": must be a valid IPv4 address (e.g. 10.9.8.7)',
          'spec.egress[0].toCIDR[3]: invalid CIDR "fd00::/8": IPv6 is not supported (Membrane is IPv4 only)',
          'spec.egress[0].toCIDR[4]: must not be empty',
          'spec.egress[1].toCIDRSet[0].except[0]: "10.1.0.0/24" must lie inside cidr "10.0.0.0/16"',
          'spec.egress[1].toCIDRSet[0].except[1]: "10.0.0.0/8" must lie inside cidr "10.0.0.0/16"',
          'spec.egress[1].toCIDRSet[1].cidr: required',
          'spec.egress[1].toCIDRSet[2].cidrGroupRef: not supported (CiliumCIDRGroups): write the CIDRs in cidr',
        ],
      );
    });

    it('the whole file is refused when one policy is bad, each problem with its document and field', () => {
      const text = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: good, namespace: prod}
spec:
  endpointSelector: {}
  ingress: [{}]
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: bad}
specs:
- endpointSelector: {}
  egress:
  - toEntities: [world]
  - toEntities: [wrold]
`;
      assert.throws(
        () => parseManifests(text, 'p.yaml'),
        (err: unknown) => {
          assert.ok(err instanceof AggregateInputError);
          assert.deepEqual(err.problems, [
            {
              document: 'doc 2 (CiliumClusterwideNetworkPolicy bad)',
              field: 'specs[0].egress[1].toEntities[0]',
              reason: 'unknown entity "wrold": must be one of all, world, cluster, host, remote-node, health, unmanaged, init, kube-apiserver, none (did you mean "world"?)',
              line: 15,
            },
          ]);
          return true;
        },
      );
    });
  });
});

describe('cilium.io/v2 CiliumClusterwideNetworkPolicy', () => {
  it('is cluster-scoped: no namespace, peers limited to endpoints that have one', () => {
    const spec = ok(
      ccnp({
        spec: {
          endpointSelector: { matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'kube-system' } },
          ingress: [{ fromEndpoints: [{}, { matchLabels: { app: 'x' } }, { matchLabels: { 'io.kubernetes.pod.namespace': 'a' } }, { matchLabels: { 'reserved:host': '' } }] }],
        },
      }, { name: 'p', namespace: 'ignored' }),
    );
    assert.equal(spec.namespace, undefined);
    assert.equal('namespace' in spec, false);
    const p = spec.parts[0];
    assert.deepEqual(p?.subject.requirements, [label('k8s:io.kubernetes.pod.namespace', 'kube-system')]);
    assert.deepEqual(p?.rules[0]?.peers, [
      { type: 'endpoints', selector: { requirements: [anyNamespace] } },
      { type: 'endpoints', selector: { requirements: [anyNamespace, label('any:app', 'x')] } },
      { type: 'endpoints', selector: { requirements: [label('k8s:io.kubernetes.pod.namespace', 'a')] } },
      { type: 'endpoints', selector: { requirements: [label('reserved:host', '')] } },
    ]);
  });

  it('does not limit peers when the subject selects initializing endpoints (reserved:init)', () => {
    const p = ok(ccnp({ spec: { endpointSelector: { matchLabels: { 'reserved:init': '' } }, egress: [{ toEndpoints: [{}] }] } })).parts[0];
    assert.deepEqual(p?.rules[0]?.peers, [{ type: 'endpoints', selector: { requirements: [] } }]);
  });
});
