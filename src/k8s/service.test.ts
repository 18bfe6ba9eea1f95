import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Checker } from './problems.ts';
import { validateObject } from './registry.ts';
import { type ServiceSpec, ipv4Problems, isExternallyAccessible, specialIPv4Problems, validateService } from './service.ts';

function svc(spec: unknown, extra: Record<string, unknown> = {}, metadata: unknown = { name: 'web' }): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Service', metadata, spec, ...extra };
}

function check(raw: Record<string, unknown>): { spec?: ServiceSpec; problems: string[] } {
  const c = new Checker('doc 1');
  const obj = validateObject(c, raw);
  const problems = c.problems.map((p) => `${p.field}: ${p.reason}`);
  if (obj?.kind === 'Service') return { spec: obj.spec, problems };
  return { problems };
}

function problems(spec: unknown, extra: Record<string, unknown> = {}): string[] {
  const r = check(svc(spec, extra));
  if (r.problems.length > 0) assert.equal(r.spec, undefined);
  return r.problems;
}

function ok(spec: unknown, extra: Record<string, unknown> = {}): ServiceSpec {
  const r = check(svc(spec, extra));
  assert.deepEqual(r.problems, []);
  assert.ok(r.spec);
  return r.spec;
}

const P80 = { ports: [{ port: 80 }] };

describe('v1 Service', () => {
  it('applies the upstream defaults to a minimal ClusterIP service', () => {
    assert.deepEqual(ok({ selector: { app: 'web' }, ports: [{ port: 80 }] }), {
      namespace: 'default',
      name: 'web',
      labels: {},
      type: 'ClusterIP',
      headless: false,
      ports: [{ name: '', protocol: 'TCP', port: 80, targetPort: 80 }],
      selector: { app: 'web' },
      sessionAffinity: 'None',
      externalIPs: [],
      internalTrafficPolicy: 'Cluster',
      loadBalancerSourceRanges: [],
      publishNotReadyAddresses: false,
      loadBalancerIngress: [],
    });
  });

  it('keeps a full LoadBalancer service', () => {
    const spec = ok(
      {
        type: 'LoadBalancer',
        clusterIP: '10.96.0.10',
        clusterIPs: ['10.96.0.10'],
        ipFamilies: ['IPv4'],
        ipFamilyPolicy: 'SingleStack',
        selector: { app: 'web', tier: 'front' },
        ports: [
          { name: 'http', port: 80, targetPort: 'http', nodePort: 30080, appProtocol: 'http' },
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 5353, nodePort: 30053 },
        ],
        sessionAffinity: 'ClientIP',
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
        externalIPs: ['192.0.2.10'],
        externalTrafficPolicy: 'Local',
        internalTrafficPolicy: 'Local',
        healthCheckNodePort: 32000,
        loadBalancerIP: '203.0.113.7',
        loadBalancerSourceRanges: ['198.51.100.0/24', ' 10.0.0.0/8 '],
        allocateLoadBalancerNodePorts: false,
        publishNotReadyAddresses: true,
      },
      { status: { loadBalancer: { ingress: [{ ip: '203.0.113.7' }, { hostname: 'lb.example.com' }, { ip: '203.0.113.8', ipMode: 'Proxy' }] } } },
    );
    assert.deepEqual(spec, {
      namespace: 'default',
      name: 'web',
      labels: {},
      type: 'LoadBalancer',
      headless: false,
      clusterIP: '10.96.0.10',
      ports: [
        { name: 'http', protocol: 'TCP', port: 80, targetPort: 'http', nodePort: 30080, appProtocol: 'http' },
        { name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353 },
        { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 5353, nodePort: 30053 },
      ],
      selector: { app: 'web', tier: 'front' },
      sessionAffinity: 'ClientIP',
      sessionAffinityTimeoutSeconds: 600,
      externalIPs: ['192.0.2.10'],
      externalTrafficPolicy: 'Local',
      internalTrafficPolicy: 'Local',
      healthCheckNodePort: 32000,
      loadBalancerIP: '203.0.113.7',
      loadBalancerSourceRanges: ['198.51.100.0/24', '10.0.0.0/8'],
      allocateLoadBalancerNodePorts: false,
      publishNotReadyAddresses: true,
      loadBalancerIngress: [{ ip: '203.0.113.7', ipMode: 'VIP' }, { hostname: 'lb.example.com' }, { ip: '203.0.113.8', ipMode: 'Proxy' }],
    });
  });

  describe('type', () => {
    it('defaults to ClusterIP and accepts NodePort and LoadBalancer', () => {
      assert.equal(ok({ ...P80, type: '' }).type, 'ClusterIP');
      assert.equal(ok({ ...P80, type: 'NodePort' }).type, 'NodePort');
      assert.equal(ok({ ...P80, type: 'LoadBalancer' }).allocateLoadBalancerNodePorts, true);
    });

    it('rejects ExternalName as not supported, and nothing else about it', () => {
      assert.deepEqual(problems({ type: 'ExternalName', externalName: 'db.example.com' }), [
        'spec.type: "ExternalName" is not supported: it is a DNS alias (CNAME) with nothing to load-balance; use "ClusterIP", "NodePort" or "LoadBalancer"',
      ]);
    });

    it('rejects unknown types, with a hint for the wrong case', () => {
      assert.deepEqual(problems({ ...P80, type: 'nodeport' }), [
        'spec.type: unsupported value "nodeport": must be one of "ClusterIP", "NodePort", "LoadBalancer" (did you mean "NodePort"?)',
      ]);
      assert.deepEqual(problems({ ...P80, type: 'Ingress' }), ['spec.type: unsupported value "Ingress": must be one of "ClusterIP", "NodePort", "LoadBalancer"']);
      assert.deepEqual(problems({ ...P80, type: 1 }), ['spec.type: must be a string, got a number (1); quote it']);
    });
  });

  describe('clusterIP', () => {
    it('accepts an IPv4 address, "None" (headless) or nothing (to be allocated)', () => {
      assert.equal(ok({ ...P80, clusterIP: '10.96.0.1' }).clusterIP, '10.96.0.1');
      const headless = ok({ clusterIP: 'None', selector: { app: 'db' } });
      assert.equal(headless.headless, true);
      assert.equal(headless.clusterIP, undefined);
      assert.deepEqual(headless.ports, []);
      const none = ok({ ...P80, clusterIP: '' });
      assert.equal(none.clusterIP, undefined);
      assert.equal(none.headless, false);
    });

    it('takes clusterIPs[0] when clusterIP is absent, and requires them to agree', () => {
      assert.equal(ok({ ...P80, clusterIPs: ['10.96.0.2'] }).clusterIP, '10.96.0.2');
      assert.equal(ok({ clusterIPs: ['None'] }).headless, true);
      assert.deepEqual(problems({ ...P80, clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.2'] }), [
        'spec.clusterIPs: first value "10.96.0.2" must match clusterIP ("10.96.0.1")',
      ]);
    });

    it('rejects invalid addresses, IPv6 and dual-stack', () => {
      assert.deepEqual(problems({ ...P80, clusterIP: '10.96.0.256' }), [
        'spec.clusterIP: invalid value "10.96.0.256": must be empty, "None", or a valid IPv4 address; must be a valid IPv4 address (e.g. 10.9.8.7): each part is 0-255',
      ]);
      assert.deepEqual(problems({ ...P80, clusterIP: 'none' }), [
        'spec.clusterIP: invalid value "none": must be empty, "None", or a valid IPv4 address; must be a valid IPv4 address (e.g. 10.9.8.7)',
      ]);
      assert.deepEqual(problems({ ...P80, clusterIP: 'fd00::10' }), [
        'spec.clusterIP: invalid value "fd00::10": must be empty, "None", or a valid IPv4 address; IPv6 addresses are not supported (Membrane is IPv4-only)',
      ]);
      assert.deepEqual(problems({ ...P80, clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.1', 'fd00::1'] }), [
        'spec.clusterIPs: dual-stack is not supported (Membrane is IPv4-only): must hold at most one address, got 2',
      ]);
      assert.deepEqual(problems({ ...P80, ipFamilies: ['IPv6'], ipFamilyPolicy: 'RequireDualStack' }), [
        'spec.ipFamilies[0]: IPv6 is not supported (Membrane is IPv4-only)',
        'spec.ipFamilyPolicy: "RequireDualStack" is not supported (Membrane is IPv4-only): use "SingleStack" or "PreferDualStack"',
      ]);
      assert.equal(ok({ ...P80, ipFamilyPolicy: 'PreferDualStack' }).type, 'ClusterIP');
    });

    it('may not be "None" for NodePort or LoadBalancer services', () => {
      assert.deepEqual(problems({ ...P80, type: 'NodePort', clusterIP: 'None' }), ['spec.clusterIP: may not be "None" for NodePort services']);
      assert.deepEqual(problems({ ...P80, type: 'LoadBalancer', clusterIPs: ['None'] }), ['spec.clusterIPs[0]: may not be "None" for LoadBalancer services']);
    });
  });

  describe('ports', () => {
    it('are required unless the service is headless', () => {
      assert.deepEqual(problems({ selector: { app: 'x' } }), ['spec.ports: required (at least one port; only a headless service, clusterIP "None", may have none)']);
      assert.deepEqual(problems({ ports: [] }), ['spec.ports: required (at least one port; only a headless service, clusterIP "None", may have none)']);
      assert.deepEqual(check(svc(undefined)).problems, ['spec.ports: required (at least one port; only a headless service, clusterIP "None", may have none)']);
      assert.deepEqual(problems({ ports: { port: 80 } }), ['spec.ports: must be a list, got an object']);
    });

    it('need unique DNS-1123 names when there is more than one', () => {
      assert.deepEqual(ok({ ports: [{ name: 'http', port: 80 }] }).ports[0]?.name, 'http');
      assert.deepEqual(
        problems({
          ports: [{ port: 80 }, { name: 'http', port: 81 }, { name: 'http', port: 82 }, { name: 'Web', port: 83 }, { name: 'a.b', port: 84 }, { name: '', port: 85 }],
        }),
        [
          'spec.ports[0].name: required when the service has more than one port',
          'spec.ports[2].name: duplicate port name "http" (also ports[1])',
          "spec.ports[3].name: invalid name \"Web\": must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (a lowercase RFC 1123 label, e.g. 'my-name' or '123-abc')",
          "spec.ports[4].name: invalid name \"a.b\": must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (a lowercase RFC 1123 label, e.g. 'my-name' or '123-abc')",
          'spec.ports[5].name: required when the service has more than one port',
        ],
      );
    });

    it('check port, protocol and targetPort; targetPort defaults to port', () => {
      const spec = ok({ ports: [{ name: 'a', port: 80, targetPort: 0 }, { name: 'b', port: 81, targetPort: '' }, { name: 'c', port: 82, targetPort: 65535, protocol: 'SCTP' }] });
      assert.deepEqual(spec.ports.map((p) => [p.targetPort, p.protocol]), [[80, 'TCP'], [81, 'TCP'], [65535, 'SCTP']]);
      assert.deepEqual(
        problems({
          ports: [
            { name: 'a', port: 0 },
            { name: 'b', port: 65536 },
            { name: 'c' },
            { name: 'd', port: '80' },
            { name: 'e', port: 80, protocol: 'tcp' },
            { name: 'f', port: 81, protocol: 'ICMP' },
            { name: 'g', port: 82, targetPort: 70000 },
            { name: 'h', port: 83, targetPort: 'HTTP' },
            { name: 'i', port: 84, targetPort: '8080' },
            { name: 'j', port: 85, targetPort: true },
            { name: 'k', port: 86, targetPort: 1.5 },
            'not-an-object',
          ],
        }),
        [
          'spec.ports[0].port: invalid port 0: must be between 1 and 65535, inclusive',
          'spec.ports[1].port: invalid port 65536: must be between 1 and 65535, inclusive',
          'spec.ports[2].port: required',
          'spec.ports[3].port: must be an integer, got a string ("80")',
          'spec.ports[4].protocol: unsupported value "tcp": must be one of "TCP", "UDP", "SCTP" (did you mean "TCP"?)',
          'spec.ports[5].protocol: unsupported value "ICMP": must be one of "TCP", "UDP", "SCTP"',
          'spec.ports[6].targetPort: invalid port 70000: must be between 1 and 65535, inclusive',
          'spec.ports[7].targetPort: invalid port name "HTTP": must contain only lower case alphanumeric characters (a-z, 0-9) and hyphens (-); must contain at least one letter (a-z)',
          'spec.ports[8].targetPort: invalid port name "8080": must contain at least one letter (a-z); for a port number write it without quotes (targetPort: 8080)',
          'spec.ports[9].targetPort: must be an integer or a port name, got a boolean (true)',
          'spec.ports[10].targetPort: must be an integer or a port name, got a number (1.5)',
          'spec.ports[11]: must be an object, got a string ("not-an-object")',
        ],
      );
    });

    it('must be unique per (port, protocol)', () => {
      assert.equal(ok({ ports: [{ name: 'u', port: 53, protocol: 'UDP' }, { name: 't', port: 53 }] }).ports.length, 2);
      assert.deepEqual(problems({ ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80, protocol: 'TCP' }] }), ['spec.ports[1]: duplicate port 80/TCP (also ports[0])']);
    });

    it('check nodePort: not for ClusterIP, a port number (the allocator checks the range), unique per protocol', () => {
      assert.equal(ok({ type: 'NodePort', ports: [{ port: 80, nodePort: 30000 }] }).ports[0]?.nodePort, 30000);
      assert.equal(ok({ type: 'NodePort', ports: [{ port: 80, nodePort: 0 }] }).ports[0]?.nodePort, undefined);
      assert.deepEqual(problems({ ports: [{ port: 80, nodePort: 30080 }] }), ['spec.ports[0].nodePort: may not be used when type is "ClusterIP"']);
      assert.deepEqual(
        problems({
          type: 'NodePort',
          ports: [
            { name: 'a', port: 80, nodePort: 29999 },
            { name: 'b', port: 81, nodePort: 65536 },
            { name: 'c', port: 82, nodePort: 31000 },
            { name: 'd', port: 83, nodePort: 31000 },
            { name: 'e', port: 84, nodePort: 31000, protocol: 'UDP' },
          ],
        }),
        [
          'spec.ports[1].nodePort: invalid port 65536: must be in the node port range 1-65535',
          'spec.ports[3].nodePort: duplicate node port 31000/TCP (also ports[2])',
        ],
      );
    });

    it('uses a configured node port range', () => {
      const c = new Checker('doc 1');
      const spec = validateService(c, { spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 8080 }] } }, { name: 'web', namespace: 'default', labels: {} }, { nodePortRange: { min: 8000, max: 9000 } });
      assert.deepEqual(c.problems, []);
      assert.equal(spec.ports[0]?.nodePort, 8080);
    });
  });

  it('validates the selector as a label map', () => {
    assert.deepEqual(ok(P80).selector, {});
    assert.deepEqual(problems({ ...P80, selector: { 'app/x/y': 'a', tier: '-bad' } }).length, 2);
    assert.deepEqual(problems({ ...P80, selector: ['app=web'] }), ['spec.selector: must be an object, got a list']);
  });

  describe('sessionAffinity', () => {
    it('defaults the ClientIP timeout to 10800 seconds', () => {
      assert.equal(ok({ ...P80, sessionAffinity: 'ClientIP' }).sessionAffinityTimeoutSeconds, 10800);
      assert.equal(ok({ ...P80, sessionAffinity: 'ClientIP', sessionAffinityConfig: {} }).sessionAffinityTimeoutSeconds, 10800);
      assert.equal(ok({ ...P80, sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: {} } }).sessionAffinityTimeoutSeconds, 10800);
      assert.equal(ok({ ...P80, sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 86400 } } }).sessionAffinityTimeoutSeconds, 86400);
      assert.equal(ok({ ...P80, sessionAffinity: 'None' }).sessionAffinityTimeoutSeconds, undefined);
    });

    it('checks the value, the timeout range, and forbids a config with None', () => {
      for (const t of [0, -1, 86401]) {
        assert.deepEqual(problems({ ...P80, sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: t } } }), [
          `spec.sessionAffinityConfig.clientIP.timeoutSeconds: invalid value ${t}: must be between 1 and 86400 (one day), inclusive`,
        ]);
      }
      assert.deepEqual(problems({ ...P80, sessionAffinity: 'Sticky' }), ['spec.sessionAffinity: unsupported value "Sticky": must be one of "None", "ClientIP"']);
      assert.deepEqual(problems({ ...P80, sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } } }), [
        'spec.sessionAffinityConfig: must not be set when sessionAffinity is "None"',
      ]);
    });
  });

  describe('traffic policies', () => {
    it('default externalTrafficPolicy to Cluster only for externally-accessible services', () => {
      assert.equal(ok(P80).externalTrafficPolicy, undefined);
      assert.equal(ok({ ...P80, type: 'NodePort' }).externalTrafficPolicy, 'Cluster');
      assert.equal(ok({ ...P80, type: 'LoadBalancer' }).externalTrafficPolicy, 'Cluster');
      assert.equal(ok({ ...P80, externalIPs: ['192.0.2.1'] }).externalTrafficPolicy, 'Cluster');
      assert.equal(ok({ ...P80, externalIPs: ['192.0.2.1'], externalTrafficPolicy: 'Local' }).externalTrafficPolicy, 'Local');
      assert.equal(ok({ ...P80, internalTrafficPolicy: 'Local' }).internalTrafficPolicy, 'Local');
    });

    it('accept only Cluster and Local, as upstream does', () => {
      assert.deepEqual(problems({ ...P80, type: 'NodePort', externalTrafficPolicy: 'local' }), [
        'spec.externalTrafficPolicy: unsupported value "local": must be one of "Cluster", "Local" (did you mean "Local"?)',
      ]);
      assert.deepEqual(problems({ ...P80, type: 'NodePort', externalTrafficPolicy: 'OnlyLocal' }), [
        'spec.externalTrafficPolicy: unsupported value "OnlyLocal": must be one of "Cluster", "Local"',
      ]);
      assert.deepEqual(problems({ ...P80, internalTrafficPolicy: 'Global' }), ['spec.internalTrafficPolicy: unsupported value "Global": must be one of "Cluster", "Local"']);
      assert.deepEqual(problems({ ...P80, externalTrafficPolicy: 'Local' }), [
        'spec.externalTrafficPolicy: may only be set for externally-accessible services (type "NodePort" or "LoadBalancer", or with externalIPs)',
      ]);
    });

    it('allow healthCheckNodePort only for LoadBalancer with Local', () => {
      assert.equal(ok({ ...P80, type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 31999 }).healthCheckNodePort, 31999);
      assert.deepEqual(problems({ ...P80, type: 'LoadBalancer', healthCheckNodePort: 31999 }), [
        'spec.healthCheckNodePort: may only be set when type is "LoadBalancer" and externalTrafficPolicy is "Local"',
      ]);
      assert.deepEqual(problems({ ...P80, type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 70000 }), [
        'spec.healthCheckNodePort: invalid port 70000: must be between 1 and 65535, inclusive',
      ]);
    });

    it('isExternallyAccessible', () => {
      assert.equal(isExternallyAccessible({ type: 'ClusterIP', externalIPs: [] }), false);
      assert.equal(isExternallyAccessible({ type: 'ClusterIP', externalIPs: ['192.0.2.1'] }), true);
      assert.equal(isExternallyAccessible({ type: 'NodePort', externalIPs: [] }), true);
    });
  });

  describe('addresses', () => {
    it('checks externalIPs: IPv4, not unspecified, loopback or link-local', () => {
      assert.deepEqual(problems({ ...P80, externalIPs: ['192.0.2.1', '0.0.0.0', '127.0.0.1', '169.254.1.1', '224.0.0.5', '2001:db8::1', 'host', '010.0.0.1', 7] }), [
        'spec.externalIPs[1]: invalid IP "0.0.0.0": may not be unspecified (0.0.0.0)',
        'spec.externalIPs[2]: invalid IP "127.0.0.1": may not be in the loopback range (127.0.0.0/8)',
        'spec.externalIPs[3]: invalid IP "169.254.1.1": may not be in the link-local range (169.254.0.0/16)',
        'spec.externalIPs[4]: invalid IP "224.0.0.5": may not be in the link-local multicast range (224.0.0.0/24)',
        'spec.externalIPs[5]: invalid IP "2001:db8::1": IPv6 addresses are not supported (Membrane is IPv4-only)',
        'spec.externalIPs[6]: invalid IP "host": must be a valid IPv4 address (e.g. 10.9.8.7)',
        'spec.externalIPs[7]: invalid IP "010.0.0.1": must be a valid IPv4 address without leading zeros (e.g. 10.9.8.7)',
        'spec.externalIPs[8]: must be a string, got a number (7)',
      ]);
    });

    it('checks loadBalancerIP and loadBalancerSourceRanges', () => {
      assert.deepEqual(problems({ ...P80, type: 'LoadBalancer', loadBalancerIP: '203.0.113.300', loadBalancerSourceRanges: ['10.0.0.0', '10.0.0.0/33', 'fd00::/8', '10.0.0.0/08'] }), [
        'spec.loadBalancerIP: invalid IP "203.0.113.300": must be a valid IPv4 address (e.g. 10.9.8.7): each part is 0-255',
        'spec.loadBalancerSourceRanges[0]: invalid CIDR "10.0.0.0": must be a CIDR (e.g. 10.0.0.0/8)',
        'spec.loadBalancerSourceRanges[1]: invalid CIDR "10.0.0.0/33": prefix length must be 0-32',
        'spec.loadBalancerSourceRanges[2]: invalid CIDR "fd00::/8": IPv6 addresses are not supported (Membrane is IPv4-only)',
        'spec.loadBalancerSourceRanges[3]: invalid CIDR "10.0.0.0/08": prefix length must be 0-32',
      ]);
      assert.deepEqual(problems({ ...P80, loadBalancerSourceRanges: ['10.0.0.0/8'] }), ['spec.loadBalancerSourceRanges: may only be used when type is "LoadBalancer"']);
      assert.deepEqual(problems({ ...P80, allocateLoadBalancerNodePorts: true }), ['spec.allocateLoadBalancerNodePorts: may only be used when type is "LoadBalancer"']);
    });

    it('checks status.loadBalancer.ingress', () => {
      const lb = { ...P80, type: 'LoadBalancer' };
      assert.deepEqual(
        problems(lb, {
          status: {
            loadBalancer: {
              ingress: [{ ip: '1.2.3' }, { hostname: '10.0.0.1' }, { hostname: 'Bad_Host' }, { hostname: 'x.example', ipMode: 'VIP' }, { ip: '1.2.3.4', ipMode: 'Direct' }],
            },
          },
        }),
        [
          'status.loadBalancer.ingress[0].ip: invalid IP "1.2.3": must be a valid IPv4 address (e.g. 10.9.8.7)',
          'status.loadBalancer.ingress[1].hostname: invalid value "10.0.0.1": must be a DNS name, not an IP address',
          "status.loadBalancer.ingress[2].hostname: invalid value \"Bad_Host\": must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (a lowercase RFC 1123 subdomain, e.g. 'example.com')",
          'status.loadBalancer.ingress[3].ipMode: may not be specified when ip is not set',
          'status.loadBalancer.ingress[4].ipMode: unsupported value "Direct": must be one of "VIP", "Proxy"',
        ],
      );
      assert.deepEqual(problems(P80, { status: { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } } }), [
        'status.loadBalancer.ingress: may only be used when spec.type is "LoadBalancer"',
      ]);
      assert.deepEqual(ok(P80, { status: { loadBalancer: {} } }).loadBalancerIngress, []);
    });
  });

  it('uses the DNS-1035 label rule for the service name', () => {
    assert.deepEqual(check(svc(P80, {}, { name: 'web-1' })).problems, []);
    const p = check(svc(P80, {}, { name: '1web' })).problems;
    assert.equal(p.length, 1);
    assert.match(p[0] ?? '', /^metadata\.name: invalid name "1web": .*RFC 1035 label/);
    assert.match(check(svc(P80, {}, { name: 'web.v2' })).problems[0] ?? '', /RFC 1035 label/);
  });

  it('keeps namespace and labels from metadata', () => {
    const { spec } = check(svc(P80, {}, { name: 'web', namespace: 'prod', labels: { team: 'a' } }));
    assert.equal(spec?.namespace, 'prod');
    assert.deepEqual(spec?.labels, { team: 'a' });
  });

  it('is served as v1 only', () => {
    assert.deepEqual(check({ ...svc(P80), apiVersion: 'apps/v1' }).problems, ['apiVersion: Service is not served as "apps/v1": use apiVersion "v1"']);
  });
});

describe('IPv4 checks', () => {
  it('ipv4Problems accepts canonical dotted quads only', () => {
    for (const ip of ['0.0.0.0', '10.0.0.1', '255.255.255.255', '192.0.2.10']) assert.deepEqual(ipv4Problems(ip), [], ip);
    for (const ip of ['', '1.2.3', '1.2.3.4.5', '1.2.3.256', '01.2.3.4', '1.2.3.4 ', ' 1.2.3.4', '1.2.3.-4', '1.2.3.4/32', '0x1.2.3.4', '::ffff:1.2.3.4']) {
      assert.ok(ipv4Problems(ip).length > 0, ip);
    }
  });

  it('specialIPv4Problems follows ValidateNonSpecialIP', () => {
    for (const ip of ['0.0.0.0', '127.0.0.1', '127.255.255.255', '169.254.0.1', '224.0.0.1', '224.0.0.255']) assert.equal(specialIPv4Problems(ip).length, 1, ip);
    for (const ip of ['0.0.0.1', '126.0.0.1', '169.253.0.1', '224.0.1.1', '10.0.0.1', '255.255.255.255']) assert.deepEqual(specialIPv4Problems(ip), [], ip);
  });

  it('can be called directly, defaulting the namespace', () => {
    const c = new Checker('d');
    assert.equal(validateService(c, { spec: { ports: [{ port: 80 }] } }, { name: 'x', labels: {} }).namespace, 'default');
    assert.deepEqual(c.problems, []);
  });
});

describe('forwarding-mode annotation', () => {
  const annotated = (value: unknown) => check(svc({ type: 'NodePort', ports: [{ port: 80 }] }, {}, { name: 'web', annotations: { 'service.cilium.io/forwarding-mode': value, other: 'x' } }));
  it('reads dsr and snat; absent or empty means the agent default', () => {
    assert.equal(annotated('dsr').spec?.forwardingMode, 'dsr');
    assert.equal(annotated('snat').spec?.forwardingMode, 'snat');
    assert.equal(annotated('').spec?.forwardingMode, undefined);
    assert.equal('forwardingMode' in ok({ type: 'NodePort', ports: [{ port: 80 }] }), false);
  });
  it('refuses other values, naming the annotation', () => {
    assert.deepEqual(annotated('DSR').problems, ['metadata.annotations["service.cilium.io/forwarding-mode"]: unsupported value "DSR": must be one of "snat", "dsr" (did you mean "dsr"?)']);
    assert.match(annotated(true).problems[0] ?? '', /must be a string/);
  });
});
