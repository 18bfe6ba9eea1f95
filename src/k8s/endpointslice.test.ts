import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type EndpointSliceSpec, MAX_ADDRESSES, MAX_ENDPOINTS, MAX_PORTS, SERVICE_NAME_LABEL } from './endpointslice.ts';
import { Checker } from './problems.ts';
import { validateObject } from './registry.ts';

const LABELS = { [SERVICE_NAME_LABEL]: 'web' };

function slice(body: Record<string, unknown>, metadata: unknown = { name: 'web-abc12', labels: LABELS }): Record<string, unknown> {
  return { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata, addressType: 'IPv4', ...body };
}

function check(raw: Record<string, unknown>): { spec?: EndpointSliceSpec; problems: string[] } {
  const c = new Checker('doc 1');
  const obj = validateObject(c, raw);
  const problems = c.problems.map((p) => `${p.field}: ${p.reason}`);
  if (obj?.kind === 'EndpointSlice') return { spec: obj.spec, problems };
  return { problems };
}

function problems(body: Record<string, unknown>, metadata?: unknown): string[] {
  const r = check(slice(body, metadata));
  if (r.problems.length > 0) assert.equal(r.spec, undefined);
  return r.problems;
}

function ok(body: Record<string, unknown>): EndpointSliceSpec {
  const r = check(slice(body));
  assert.deepEqual(r.problems, []);
  assert.ok(r.spec);
  return r.spec;
}

const EP = { addresses: ['10.244.1.5'] };

describe('discovery.k8s.io/v1 EndpointSlice', () => {
  it('keeps endpoints and ports, and the owning service from its label', () => {
    const spec = ok({
      endpoints: [
        {
          addresses: ['10.244.1.5'],
          conditions: { ready: true, serving: true, terminating: false },
          hostname: 'web-0',
          nodeName: 'node-1.example',
          zone: 'zone-a',
          targetRef: { kind: 'Pod', namespace: 'default', name: 'web-0', uid: '7d1c-...', resourceVersion: '12' },
          hints: { forZones: [{ name: 'zone-a' }] },
        },
        { addresses: ['10.244.2.9'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'node-2' },
      ],
      ports: [
        { name: 'http', port: 8080, protocol: 'TCP', appProtocol: 'http' },
        { name: 'dns', port: 5353, protocol: 'UDP' },
      ],
    });
    assert.deepEqual(spec, {
      namespace: 'default',
      name: 'web-abc12',
      labels: LABELS,
      serviceName: 'web',
      addressType: 'IPv4',
      endpoints: [
        {
          addresses: ['10.244.1.5'],
          conditions: { ready: true, serving: true, terminating: false },
          hostname: 'web-0',
          nodeName: 'node-1.example',
          zone: 'zone-a',
          targetRef: { kind: 'Pod', namespace: 'default', name: 'web-0', uid: '7d1c-...' },
        },
        { addresses: ['10.244.2.9'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'node-2' },
      ],
      ports: [
        { name: 'http', port: 8080, protocol: 'TCP', appProtocol: 'http' },
        { name: 'dns', port: 5353, protocol: 'UDP' },
      ],
    });
  });

  it('applies the v1 condition defaults: ready and serving nil → true, terminating nil → false', () => {
    const spec = ok({ endpoints: [EP, { ...EP, conditions: {} }, { ...EP, conditions: { ready: false } }, { ...EP, conditions: { ready: null, serving: null, terminating: null } }] });
    assert.deepEqual(spec.endpoints.map((e) => e.conditions), [
      { ready: true, serving: true, terminating: false },
      { ready: true, serving: true, terminating: false },
      { ready: false, serving: true, terminating: false },
      { ready: true, serving: true, terminating: false },
    ]);
    assert.deepEqual(problems({ endpoints: [{ ...EP, conditions: { ready: 'yes', terminating: 1 } }] }), [
      'endpoints[0].conditions.ready: must be a boolean, got a string ("yes")',
      'endpoints[0].conditions.terminating: must be a boolean, got a number (1)',
    ]);
  });

  it('defaults port name to "" and protocol to TCP; allows no endpoints and no ports', () => {
    assert.deepEqual(ok({ ports: [{ port: 80 }] }).ports, [{ name: '', port: 80, protocol: 'TCP' }]);
    assert.deepEqual(ok({ ports: [{ name: 'all' }] }).ports, [{ name: 'all', protocol: 'TCP' }]);
    const empty = ok({});
    assert.deepEqual([empty.endpoints, empty.ports], [[], []]);
    assert.deepEqual(ok({ endpoints: null, ports: null }).endpoints, []);
  });

  describe('addressType', () => {
    it('is required', () => {
      assert.deepEqual(check({ ...slice({}), addressType: undefined }).problems, ['addressType: required']);
      assert.deepEqual(problems({ addressType: '' }), ['addressType: required']);
    });

    it('must be IPv4: IPv6 and FQDN are not supported, anything else is unknown', () => {
      assert.deepEqual(problems({ addressType: 'IPv6', endpoints: [{ addresses: ['fd00::5'] }] }), [
        'addressType: "IPv6" is not supported: Membrane is IPv4-only and load-balances to IP addresses; only "IPv4" slices are accepted',
      ]);
      assert.deepEqual(problems({ addressType: 'FQDN', endpoints: [{ addresses: ['db.example.com'] }] }), [
        'addressType: "FQDN" is not supported: Membrane is IPv4-only and load-balances to IP addresses; only "IPv4" slices are accepted',
      ]);
      assert.deepEqual(problems({ addressType: 'IP' }), ['addressType: unsupported value "IP": must be one of "IPv4", "IPv6", "FQDN"']);
    });
  });

  describe('endpoints', () => {
    it('need 1 to 100 addresses, each a usable IPv4 address', () => {
      assert.deepEqual(
        problems({
          endpoints: [
            {},
            { addresses: [] },
            { addresses: Array.from({ length: MAX_ADDRESSES + 1 }, (_, i) => `10.0.${i >> 8}.${(i & 255) + 1}`) },
            { addresses: ['10.0.0.256', '127.0.0.1', '0.0.0.0', '169.254.3.3', 'fd00::1', 5, '010.1.1.1'] },
            { addresses: '10.0.0.1' },
            'x',
          ],
        }),
        [
          'endpoints[0].addresses: required: must contain at least 1 address',
          'endpoints[1].addresses: required: must contain at least 1 address',
          'endpoints[2].addresses: must have at most 100 addresses, got 101',
          'endpoints[3].addresses[0]: invalid IP "10.0.0.256": must be a valid IPv4 address (e.g. 10.9.8.7): each part is 0-255',
          'endpoints[3].addresses[1]: invalid IP "127.0.0.1": may not be in the loopback range (127.0.0.0/8)',
          'endpoints[3].addresses[2]: invalid IP "0.0.0.0": may not be unspecified (0.0.0.0)',
          'endpoints[3].addresses[3]: invalid IP "169.254.3.3": may not be in the link-local range (169.254.0.0/16)',
          'endpoints[3].addresses[4]: invalid IP "fd00::1": IPv6 addresses are not supported (Membrane is IPv4-only)',
          'endpoints[3].addresses[5]: must be a string, got a number (5)',
          'endpoints[3].addresses[6]: invalid IP "010.1.1.1": must be a valid IPv4 address without leading zeros (e.g. 10.9.8.7)',
          'endpoints[4].addresses: must be a list, got a string ("10.0.0.1")',
          'endpoints[5]: must be an object, got a string ("x")',
        ],
      );
    });

    it('keeps every address but the first is the one with a meaning', () => {
      assert.deepEqual(ok({ endpoints: [{ addresses: ['10.0.0.1', '10.0.0.2'] }] }).endpoints[0]?.addresses, ['10.0.0.1', '10.0.0.2']);
    });

    it('check hostname (DNS-1123 label), nodeName (DNS-1123 subdomain) and targetRef types', () => {
      assert.deepEqual(problems({ endpoints: [{ ...EP, hostname: 'web.0', nodeName: 'Node_1', targetRef: { name: 5 } }] }), [
        "endpoints[0].hostname: invalid hostname \"web.0\": must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (a lowercase RFC 1123 label, e.g. 'my-name' or '123-abc')",
        "endpoints[0].nodeName: invalid node name \"Node_1\": must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (a lowercase RFC 1123 subdomain, e.g. 'example.com')",
        'endpoints[0].targetRef.name: must be a string, got a number (5); quote it',
      ]);
    });

    it('are limited to 1000 per slice', () => {
      assert.deepEqual(problems({ endpoints: Array.from({ length: MAX_ENDPOINTS + 1 }, () => EP) }), ['endpoints: must have at most 1000 endpoints, got 1001']);
      assert.equal(ok({ endpoints: Array.from({ length: MAX_ENDPOINTS }, () => EP) }).endpoints.length, MAX_ENDPOINTS);
    });
  });

  describe('ports', () => {
    it('check names (DNS-1123 label, unique, one unnamed at most), port range, protocol, appProtocol', () => {
      assert.deepEqual(
        problems({
          ports: [
            { name: 'http', port: 80 },
            { name: 'http', port: 81 },
            { port: 82 },
            { name: '', port: 83 },
            { name: 'Web', port: 84 },
            { name: 'a', port: 0 },
            { name: 'b', port: 65536 },
            { name: 'c', port: 80, protocol: 'udp' },
            { name: 'd', port: 80, appProtocol: 'not a name' },
          ],
        }),
        [
          'ports[1].name: duplicate port name "http" (also ports[0])',
          'ports[3].name: duplicate unnamed port (also ports[2]): every port but one needs a name',
          "ports[4].name: invalid name \"Web\": must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (a lowercase RFC 1123 label, e.g. 'my-name' or '123-abc')",
          'ports[5].port: invalid port 0: must be between 1 and 65535, inclusive',
          'ports[6].port: invalid port 65536: must be between 1 and 65535, inclusive',
          'ports[7].protocol: unsupported value "udp": must be one of "TCP", "UDP", "SCTP" (did you mean "UDP"?)',
          "ports[8].appProtocol: invalid value \"not a name\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName' or 'my.name' or '123-abc')",
        ],
      );
    });

    it('are limited to 20000 per slice', () => {
      assert.deepEqual(problems({ ports: Array.from({ length: MAX_PORTS + 1 }, (_, i) => ({ name: `p${i}`, port: 80 })) }), ['ports: must have at most 20000 ports, got 20001']);
    });
  });

  describe('the kubernetes.io/service-name label', () => {
    it('is required', () => {
      assert.deepEqual(problems({}, { name: 'x' }), [
        'metadata.labels["kubernetes.io/service-name"]: required: Membrane attaches an EndpointSlice to the Service named by this label',
      ]);
      assert.deepEqual(problems({}, { name: 'x', labels: { app: 'web' } }).length, 1);
    });

    it('must name a valid Service, reported once', () => {
      assert.deepEqual(problems({}, { name: 'x', labels: { [SERVICE_NAME_LABEL]: '1web' } }), [
        'metadata.labels["kubernetes.io/service-name"]: invalid Service name "1web": must consist of lower case alphanumeric characters or \'-\', start with an alphabetic character, and end with an alphanumeric character (an RFC 1035 label, e.g. \'my-name\' or \'abc-123\')',
      ]);
      // An invalid label value is reported by the metadata check alone.
      const p = problems({}, { name: 'x', labels: { [SERVICE_NAME_LABEL]: '-web' } });
      assert.equal(p.length, 1);
      assert.match(p[0] ?? '', /^metadata\.labels\["kubernetes\.io\/service-name"\]: invalid value "-web"/);
    });
  });

  it('is served as discovery.k8s.io/v1 with a DNS-1123 subdomain name', () => {
    assert.deepEqual(check({ ...slice({}), apiVersion: 'discovery.k8s.io/v1beta1' }).problems, [
      'apiVersion: EndpointSlice is not served as "discovery.k8s.io/v1beta1": use apiVersion "discovery.k8s.io/v1"',
    ]);
    assert.deepEqual(check(slice({}, { name: 'web.v2-abc', labels: LABELS })).problems, []);
    assert.match(check(slice({}, { name: 'Web', labels: LABELS })).problems[0] ?? '', /^metadata\.name: invalid name "Web": .*RFC 1123 subdomain/);
  });
});
