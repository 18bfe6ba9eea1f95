import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LabelRequirement, PolicyPart, PolicySpec } from '../policy/types.ts';
import { AggregateInputError, parseManifests } from './documents.ts';
import { Checker } from './problems.ts';
import { validateObject } from './registry.ts';

function np(spec: unknown, metadata: unknown = { name: 'p', namespace: 'prod' }): Record<string, unknown> {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata, spec };
}

function check(raw: Record<string, unknown>): { spec?: PolicySpec; problems: string[] } {
  const c = new Checker('doc 1');
  const obj = validateObject(c, raw);
  const problems = c.problems.map((p) => `${p.field}: ${p.reason}`);
  if (obj?.kind === 'NetworkPolicy') return { spec: obj.spec, problems };
  return { problems };
}

function part(spec: unknown): PolicyPart {
  const r = check(np(spec));
  assert.deepEqual(r.problems, []);
  assert.ok(r.spec);
  assert.equal(r.spec.parts.length, 1);
  const p = r.spec.parts[0];
  assert.ok(p);
  return p;
}

function problems(spec: unknown): string[] {
  const r = check(np(spec));
  assert.equal(r.spec, undefined, 'an invalid policy gives no object');
  return r.problems;
}

const inProd: LabelRequirement = { key: 'k8s:io.kubernetes.pod.namespace', operator: 'In', values: ['prod'] };
const anyNamespace: LabelRequirement = { key: 'k8s:io.kubernetes.pod.namespace', operator: 'Exists', values: [] };
const label = (key: string, value: string): LabelRequirement => ({ key, operator: 'In', values: [value] });

describe('networking.k8s.io/v1 NetworkPolicy', () => {
  it('selects the pods of its namespace and denies ingress by default', () => {
    const r = check(np({ podSelector: { matchLabels: { app: 'web' } } }));
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.spec, {
      kind: 'NetworkPolicy',
      namespace: 'prod',
      name: 'p',
      parts: [{ subject: { requirements: [inProd, label('k8s:app', 'web')] }, defaultDeny: { ingress: true, egress: false }, rules: [], path: 'spec' }],
    });
  });

  it('defaults the namespace to "default"; podSelector {} selects every pod of it', () => {
    const r = check(np({ podSelector: {} }, { name: 'p' }));
    assert.equal(r.spec?.namespace, 'default');
    assert.deepEqual(r.spec?.parts[0]?.subject.requirements, [{ key: 'k8s:io.kubernetes.pod.namespace', operator: 'In', values: ['default'] }]);
  });

  describe('policyTypes', () => {
    it('defaults to Ingress, plus Egress when spec.egress has rules (not when it is empty)', () => {
      assert.deepEqual(part({ podSelector: {}, egress: [{}] }).defaultDeny, { ingress: true, egress: true });
      assert.deepEqual(part({ podSelector: {}, egress: [] }).defaultDeny, { ingress: true, egress: false });
      assert.deepEqual(part({ podSelector: {}, policyTypes: [], egress: [{}] }).defaultDeny, { ingress: true, egress: true });
    });

    it('a listed type with a missing or empty list is default deny with no rules', () => {
      const p = part({ podSelector: {}, policyTypes: ['Ingress', 'Egress'], ingress: [] });
      assert.deepEqual(p.defaultDeny, { ingress: true, egress: true });
      assert.deepEqual(p.rules, []);
    });

    it('ignores the rules of a direction it does not list', () => {
      const p = part({ podSelector: {}, policyTypes: ['Egress'], ingress: [{}], egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }] });
      assert.deepEqual(p.defaultDeny, { ingress: false, egress: true });
      assert.deepEqual(p.rules, [{ direction: 'egress', deny: false, peers: 'all', ports: [{ protocol: 'UDP', port: 53 }], path: 'spec.egress[0]' }]);
    });

    it('rejects unknown types and more than two', () => {
      assert.deepEqual(problems({ podSelector: {}, policyTypes: ['ingress', 'Both'] }), [
        'spec.policyTypes[0]: unsupported value "ingress": must be one of "Ingress", "Egress" (did you mean "Ingress"?)',
        'spec.policyTypes[1]: unsupported value "Both": must be one of "Ingress", "Egress"',
      ]);
      assert.deepEqual(problems({ podSelector: {}, policyTypes: ['Ingress', 'Egress', 'Ingress'] }), ['spec.policyTypes: may not specify more than two policyTypes']);
    });
  });

  describe('rules', () => {
    it('a missing or empty from admits every peer; missing or empty ports, every port', () => {
      const all = { direction: 'ingress', deny: false, peers: 'all', ports: [] };
      assert.deepEqual(part({ podSelector: {}, ingress: [{}] }).rules, [{ ...all, path: 'spec.ingress[0]' }]);
      assert.deepEqual(part({ podSelector: {}, ingress: [{ from: [], ports: [] }, { from: null }] }).rules, [
        { ...all, path: 'spec.ingress[0]' },
        { ...all, path: 'spec.ingress[1]' },
      ]);
    });

    it('peers of a rule are alternatives; podSelector and namespaceSelector in one peer must both match', () => {
      const p = part({
        podSelector: {},
        ingress: [
          { from: [{ podSelector: { matchLabels: { role: 'fe' } } }, { namespaceSelector: { matchLabels: { team: 'a' } } }] },
          { from: [{ podSelector: { matchLabels: { role: 'fe' } }, namespaceSelector: { matchLabels: { team: 'a' } } }] },
        ],
      });
      const team = label('k8s:io.cilium.k8s.namespace.labels.team', 'a');
      assert.deepEqual(p.rules.map((r) => r.peers), [
        [
          { type: 'endpoints', selector: { requirements: [inProd, label('k8s:role', 'fe')] } },
          { type: 'endpoints', selector: { requirements: [team] } },
        ],
        [{ type: 'endpoints', selector: { requirements: [team, label('k8s:role', 'fe')] } }],
      ]);
    });

    it('confines a podSelector peer to the policy namespace; namespaceSelector {} means every namespace', () => {
      const p = part({
        podSelector: {},
        egress: [
          { to: [{ podSelector: {} }] },
          { to: [{ namespaceSelector: {} }] },
          { to: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'dns' } } }] },
          { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } }] },
        ],
      });
      assert.deepEqual(p.rules.map((r) => r.peers), [
        [{ type: 'endpoints', selector: { requirements: [inProd] } }],
        [{ type: 'endpoints', selector: { requirements: [anyNamespace] } }],
        [{ type: 'endpoints', selector: { requirements: [anyNamespace, label('k8s:app', 'dns')] } }],
        [{ type: 'endpoints', selector: { requirements: [label('k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name', 'kube-system')] } }],
      ]);
    });

    it('maps matchExpressions of pod and namespace selectors', () => {
      const p = part({
        podSelector: {
          matchExpressions: [
            { key: 'tier', operator: 'In', values: ['a', 'b'] },
            { key: 'env', operator: 'NotIn', values: ['dev'] },
            { key: 'canary', operator: 'Exists' },
            { key: 'legacy', operator: 'DoesNotExist', values: [] },
          ],
        },
        ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'NotIn', values: ['x'] }] } }] }],
      });
      assert.deepEqual(p.subject.requirements, [
        inProd,
        { key: 'k8s:tier', operator: 'In', values: ['a', 'b'] },
        { key: 'k8s:env', operator: 'NotIn', values: ['dev'] },
        { key: 'k8s:canary', operator: 'Exists', values: [] },
        { key: 'k8s:legacy', operator: 'DoesNotExist', values: [] },
      ]);
      assert.deepEqual(p.rules[0]?.peers, [
        { type: 'endpoints', selector: { requirements: [{ key: 'k8s:io.cilium.k8s.namespace.labels.team', operator: 'NotIn', values: ['x'] }] } },
      ]);
    });

    it('ipBlock: canonical cidr, except strictly inside', () => {
      const p = part({ podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.1/8', except: ['10.1.0.0/16', '10.2.3.4/32'] } }, { ipBlock: { cidr: '0.0.0.0/0' } }] }] });
      assert.deepEqual(p.rules[0]?.peers, [
        { type: 'cidr', cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.2.3.4/32'] },
        { type: 'cidr', cidr: '0.0.0.0/0', except: [] },
      ]);
    });

    it('ports: protocol defaults to TCP; numbers, names, ranges, all ports of a protocol', () => {
      const p = part({
        podSelector: {},
        ingress: [{ ports: [{ port: 80 }, { port: 'http', protocol: 'TCP' }, { protocol: 'UDP' }, { port: 32000, endPort: 32767, protocol: 'SCTP' }, { port: 8080, endPort: 8080 }] }],
      });
      assert.deepEqual(p.rules[0]?.ports, [
        { protocol: 'TCP', port: 80 },
        { protocol: 'TCP', port: 'http' },
        { protocol: 'UDP' },
        { protocol: 'SCTP', port: 32000, endPort: 32767 },
        { protocol: 'TCP', port: 8080 },
      ]);
    });
  });

  describe('invalid input', () => {
    it('requires spec and podSelector', () => {
      assert.deepEqual(check(np(undefined)).problems, ['spec: required']);
      assert.deepEqual(problems({}), ['spec.podSelector: required (use podSelector: {} to select every pod of the namespace)']);
    });

    it('names the unknown operator and lists the valid ones', () => {
      assert.deepEqual(problems({ podSelector: { matchExpressions: [{ key: 'app', operator: 'Equals', values: ['a'] }, { key: 'x', operator: 'in', values: ['a'] }] } }), [
        'spec.podSelector.matchExpressions[0].operator: not a valid selector operator "Equals": must be one of "In", "NotIn", "Exists", "DoesNotExist"',
        'spec.podSelector.matchExpressions[1].operator: not a valid selector operator "in": must be one of "In", "NotIn", "Exists", "DoesNotExist" (did you mean "In"?)',
      ]);
    });

    it('values: required for In/NotIn, forbidden for Exists/DoesNotExist, each a label value', () => {
      assert.deepEqual(
        problems({
          podSelector: {
            matchExpressions: [
              { key: 'a', operator: 'In' },
              { key: 'b', operator: 'NotIn', values: [] },
              { key: 'c', operator: 'Exists', values: ['x'] },
              { key: 'd', operator: 'In', values: ['-bad-', true] },
              { operator: 'Exists' },
            ],
          },
        }),
        [
          'spec.podSelector.matchExpressions[0].values: required (at least one value) when operator is "In"',
          'spec.podSelector.matchExpressions[1].values: required (at least one value) when operator is "NotIn"',
          'spec.podSelector.matchExpressions[2].values: must be empty when operator is "Exists"',
          'spec.podSelector.matchExpressions[3].values[0]: invalid value "-bad-": must be empty or consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character (e.g. \'MyValue\' or \'my_value\' or \'12345\')',
          'spec.podSelector.matchExpressions[3].values[1]: value must be a string, got a boolean (true); quote it: YAML reads unquoted true/false/yes/no/on/off as booleans',
          'spec.podSelector.matchExpressions[4].key: required',
        ],
      );
    });

    it('checks label keys and values of matchLabels', () => {
      const r = problems({ podSelector: { matchLabels: { 'a b': 'x', ok: 'no way' } } });
      assert.equal(r.length, 2);
      assert.match(r[0] ?? '', /^spec\.podSelector\.matchLabels\["a b"\]: invalid key "a b": name part must consist of alphanumeric/);
      assert.match(r[1] ?? '', /^spec\.podSelector\.matchLabels\["ok"\]: invalid value "no way": /);
    });

    it('port numbers are 1-65535', () => {
      assert.deepEqual(problems({ podSelector: {}, ingress: [{ ports: [{ port: 0 }, { port: 65536 }, { port: '80' }, { port: 80.5 }] }] }), [
        'spec.ingress[0].ports[0].port: invalid port 0: must be between 1 and 65535, inclusive',
        'spec.ingress[0].ports[1].port: invalid port 65536: must be between 1 and 65535, inclusive',
        'spec.ingress[0].ports[2].port: invalid port name "80": must contain at least one letter (a-z); for a port number write it without quotes (port: 80)',
        'spec.ingress[0].ports[3].port: must be a port number or a port name, got a number (80.5)',
      ]);
    });

    it('endPort: only with a numeric port, not below it, at most 65535', () => {
      assert.deepEqual(
        problems({
          podSelector: {},
          egress: [{ ports: [{ port: 2000, endPort: 1000 }, { port: 'http', endPort: 90 }, { endPort: 90 }, { port: 1, endPort: 65536 }] }],
        }),
        [
          'spec.egress[0].ports[0].endPort: invalid value 1000: must be greater than or equal to port (2000)',
          'spec.egress[0].ports[1].endPort: may not be specified when port is a name ("http"): ranges need port numbers',
          'spec.egress[0].ports[2].endPort: may not be specified when port is not specified',
          'spec.egress[0].ports[3].endPort: invalid port 65536: must be between 1 and 65535, inclusive',
        ],
      );
    });

    it('protocol is TCP, UDP or SCTP', () => {
      assert.deepEqual(problems({ podSelector: {}, ingress: [{ ports: [{ protocol: 'tcp' }, { protocol: 'ICMP' }] }] }), [
        'spec.ingress[0].ports[0].protocol: unsupported value "tcp": must be one of "TCP", "UDP", "SCTP" (did you mean "TCP"?)',
        'spec.ingress[0].ports[1].protocol: unsupported value "ICMP": must be one of "TCP", "UDP", "SCTP"',
      ]);
    });

    it('malformed CIDRs, IPv6, except outside or equal to cidr', () => {
      assert.deepEqual(
        problems({
          podSelector: {},
          ingress: [
            {
              from: [
                { ipBlock: { cidr: '10.0.0.0/33' } },
                { ipBlock: { cidr: '10.0.0.0/8', except: ['11.0.0.0/16', '10.0.0.0/8', '10.0.0/24', 'abc'] } },
                { ipBlock: { cidr: '10.0.0/8' } },
                { ipBlock: { cidr: 'abc' } },
                { ipBlock: { cidr: '2001:db8::/32' } },
                { ipBlock: { cidr: '010.0.0.0/8' } },
                { ipBlock: {} },
              ],
            },
          ],
        }),
        [
          'spec.ingress[0].from[0].ipBlock.cidr: invalid CIDR "10.0.0.0/33": prefix length must be a number from 0 to 32',
          'spec.ingress[0].from[1].ipBlock.except[0]: "11.0.0.0/16" must be a strict subset of cidr "10.0.0.0/8" (inside it and smaller)',
          'spec.ingress[0].from[1].ipBlock.except[1]: "10.0.0.0/8" must be a strict subset of cidr "10.0.0.0/8" (inside it and smaller)',
          'spec.ingress[0].from[1].ipBlock.except[2]: invalid CIDR "10.0.0/24": must be a valid IPv4 address (e.g. 10.9.8.7)',
          'spec.ingress[0].from[1].ipBlock.except[3]: invalid CIDR "abc": must be an IPv4 CIDR: address/prefix length (e.g. 10.0.0.0/8)',
          'spec.ingress[0].from[2].ipBlock.cidr: invalid CIDR "10.0.0/8": must be a valid IPv4 address (e.g. 10.9.8.7)',
          'spec.ingress[0].from[3].ipBlock.cidr: invalid CIDR "abc": must be an IPv4 CIDR: address/prefix length (e.g. 10.0.0.0/8)',
          'spec.ingress[0].from[4].ipBlock.cidr: invalid CIDR "2001:db8::/32": IPv6 is not supported (Membrane is IPv4 only)',
          'spec.ingress[0].from[5].ipBlock.cidr: invalid CIDR "010.0.0.0/8": must be a valid IPv4 address without leading zeros (e.g. 10.9.8.7)',
          'spec.ingress[0].from[6].ipBlock.cidr: required',
        ],
      );
    });

    it('a peer names exactly one of: selectors, or ipBlock', () => {
      assert.deepEqual(problems({ podSelector: {}, egress: [{ to: [{}, { ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }, 'x'] }] }), [
        'spec.egress[0].to[0]: must specify a peer: podSelector, namespaceSelector (both: pods that match both) or ipBlock',
        'spec.egress[0].to[1]: may not specify both ipBlock and another peer (podSelector, namespaceSelector): write them as separate peers',
        'spec.egress[0].to[2]: must be an object, got a string ("x")',
      ]);
    });

    it('reports fields NetworkPolicy does not have, with a hint', () => {
      assert.deepEqual(problems({ podSelector: {}, ingres: [{}], ingress: [{ form: [] }] }), [
        'spec.ingres: unknown field "ingres": did you mean "ingress"? known fields: podSelector, policyTypes, ingress, egress',
        'spec.ingress[0].form: unknown field "form": did you mean "from"? known fields: from, ports',
      ]);
    });

    it('names must be DNS-1123 subdomains', () => {
      assert.deepEqual(check(np({ podSelector: {} }, { name: 'allow.web-1' })).problems, []);
      assert.match(check(np({ podSelector: {} }, { name: 'Allow_Web' })).problems[0] ?? '', /^metadata\.name: invalid name "Allow_Web": .*RFC 1123 subdomain/);
    });
  });

  it('a file with one bad policy among good ones gives every error and no objects', () => {
    const good = (name: string) => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ${name}, namespace: prod}
spec:
  podSelector: {}
  ingress: [{from: [{podSelector: {matchLabels: {app: a}}}]}]
`;
    const bad = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad, namespace: prod}
spec:
  podSelector: {}
  ingress:
  - from:
    - podSelector: {}
    - ipBlock:
        cidr: 10.0.0.0/16
        except: [10.1.0.0/24]
`;
    assert.equal(parseManifests(`${good('a')}---\n${good('b')}`, 'ok.yaml').objects.length, 2);
    let err: unknown;
    try {
      parseManifests(`${good('a')}---\n${bad}---\n${good('b')}`, 'policies.yaml');
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof AggregateInputError);
    assert.deepEqual(err.problems, [
      {
        document: 'doc 2 (NetworkPolicy prod/bad)',
        field: 'spec.ingress[0].from[1].ipBlock.except[0]',
        reason: '"10.1.0.0/24" must be a strict subset of cidr "10.0.0.0/16" (inside it and smaller)',
        line: 18,
      },
    ]);
    assert.match(err.message, /^policies\.yaml: 1 error\n {2}doc 2 \(NetworkPolicy prod\/bad\): spec\.ingress\[0\]\.from\[1\]\.ipBlock\.except\[0\]: /);
  });
});
