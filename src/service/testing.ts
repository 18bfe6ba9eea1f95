// Helpers for the services unit tests: a manifest in, what the control plane
// makes of it out (no kernel, no store).
import type { EndpointJSON } from '../agent/api-types.ts';
import type { BackendState } from '../datapath/abi.ts';
import { parseManifests } from '../k8s/documents.ts';
import type { EndpointSliceSpec } from '../k8s/endpointslice.ts';
import type { PodSpec } from '../k8s/pod.ts';
import type { ServiceSpec } from '../k8s/service.ts';
import { allocateServices, type AllocationConfig } from './allocate.ts';
import { BackendIndex } from './backends.ts';
import { desiredState, type DesiredConfig, type DesiredState, type ServiceInput } from './desired.ts';

export const TEST_ALLOCATION: AllocationConfig = { serviceCidr: '10.96.7.0/24', nodePortRange: { min: 30000, max: 32767 } };

export interface Scenario {
  services: ServiceSpec[];
  slices: EndpointSliceSpec[];
  pods: PodSpec[];
  inputs: ServiceInput[];
  desired: DesiredState;
}

export interface ScenarioOptions {
  nodeName?: string;
  endpoints?: EndpointJSON[];
  states?: Record<string, BackendState>;
  config?: Partial<DesiredConfig>;
}

/** Parses `yaml`, allocates ClusterIPs/NodePorts, gathers backends and computes the desired state. */
export function scenario(yaml: string, opts: ScenarioOptions = {}): Scenario {
  const { objects } = parseManifests(yaml, 'test.yaml');
  const incoming = objects.flatMap((o) => (o.kind === 'Service' ? [{ spec: o.spec, document: o.source!.document }] : []));
  const alloc = allocateServices([], incoming, TEST_ALLOCATION);
  if (alloc.problems.length > 0) throw new Error(alloc.problems.map((p) => `${p.field}: ${p.reason}`).join('\n'));
  const services = alloc.specs;
  const slices = objects.flatMap((o) => (o.kind === 'EndpointSlice' ? [o.spec] : []));
  const pods = objects.flatMap((o) => (o.kind === 'Pod' ? [o.spec] : []));
  const index = new BackendIndex({
    nodeName: opts.nodeName ?? 'node-1',
    slices,
    endpoints: opts.endpoints ?? [],
    pod: (ns, name) => pods.find((p) => p.namespace === ns && p.name === name),
    states: new Map(Object.entries(opts.states ?? {})),
  });
  const inputs = services.map((spec) => ({ spec, ports: index.forService(spec) }));
  const desired = desiredState(inputs, { nodeIp: '198.18.7.1', lbMode: 'snat', ...opts.config });
  return { services, slices, pods, inputs, desired };
}

/** A local endpoint as the endpoint manager lists it. */
export function endpoint(id: number, podNamespace: string, podName: string, ipv4: string, state: EndpointJSON['state'] = 'ready'): EndpointJSON {
  return {
    id, containerID: `c${id}`, ifName: 'eth0', state, netns: `/var/run/netns/p${id}`, podNamespace, podName, labels: {}, ipv4, prefixLength: 32,
    gateway: '10.207.0.1', podMAC: '02:00:00:00:00:01', hostIfName: `lxc${id}`, hostIfIndex: 100 + id, hostMAC: '02:00:00:00:00:02', createdAt: '2026-01-01T00:00:00Z',
  };
}

/** A Service manifest document. */
export function svcDoc(name: string, spec: string, opts: { namespace?: string; annotations?: Record<string, string>; status?: string } = {}): string {
  const ann = opts.annotations ? `, annotations: ${JSON.stringify(opts.annotations)}` : '';
  return `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: ${opts.namespace ?? 'shop'}${ann}}\nspec: ${spec}\n${opts.status ? `status: ${opts.status}\n` : ''}---\n`;
}

/** An EndpointSlice manifest document for `service`; endpoints as YAML flow items. */
export function sliceDoc(name: string, service: string, ports: string, endpoints: string[], namespace = 'shop'): string {
  return `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: ${name}, namespace: ${namespace}, labels: {kubernetes.io/service-name: ${service}}}\naddressType: IPv4\nports: ${ports}\nendpoints: [${endpoints.join(', ')}]\n---\n`;
}
