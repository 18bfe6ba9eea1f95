// v1 Pod: what Membrane needs of a Pod — identity (namespace, name, labels)
// and the container ports, kept so that Services and policies can resolve
// named ports (`targetPort: http`) later.

import {
  type ObjectMeta,
  type RawObject,
  isDNS1123Label,
  isDNS1123Subdomain,
  isObject,
  isValidPortName,
  isValidPortNum,
  quote,
  readBoolean,
  readInteger,
  readList,
  readObject,
  readString,
  describeValue,
} from './meta.ts';
import { type Checker, FieldPath } from './problems.ts';
import type { KindDefinition } from './registry.ts';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

export function isProtocol(v: unknown): v is Protocol {
  return v === 'TCP' || v === 'UDP' || v === 'SCTP';
}

export interface ContainerPortSpec {
  /** IANA_SVC_NAME; unique within its container. */
  name?: string;
  containerPort: number;
  /** Defaults to TCP. */
  protocol: Protocol;
  hostPort?: number;
}

export interface ContainerSpec {
  name: string;
  ports: ContainerPortSpec[];
}

export interface PodSpec {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** spec.hostNetwork: the pod uses the node's network namespace (no endpoint of its own). */
  hostNetwork: boolean;
  containers: ContainerSpec[];
}

/**
 * Resolves a named port the way Kubernetes does for Services and
 * NetworkPolicies: the first container port (containers in order) with that
 * name and protocol.
 */
export function findNamedPort(pod: PodSpec, name: string, protocol: Protocol = 'TCP'): number | undefined {
  for (const c of pod.containers) {
    for (const p of c.ports) {
      if (p.name === name && p.protocol === protocol) return p.containerPort;
    }
  }
  return undefined;
}

function readPort(c: Checker, raw: unknown, path: FieldPath, names: Map<string, number>, index: number): ContainerPortSpec | undefined {
  if (!isObject(raw)) {
    c.report(path, `must be an object, got ${describeValue(raw)}`);
    return undefined;
  }
  const before = c.count;
  const name = readString(c, raw, 'name', path.child('name'));
  if (name !== undefined && name !== '') {
    const errs = isValidPortName(name);
    if (errs.length > 0) {
      c.report(path.child('name'), `invalid port name ${quote(name)}: ${errs.join('; ')}`);
    } else {
      const first = names.get(name);
      if (first !== undefined) c.report(path.child('name'), `duplicate port name ${quote(name)} (also ports[${first}])`);
      else names.set(name, index);
    }
  }
  const containerPort = readInteger(c, raw, 'containerPort', path.child('containerPort'));
  if (containerPort === undefined || containerPort === 0) {
    if (raw['containerPort'] === undefined || raw['containerPort'] === null || containerPort === 0) {
      c.report(path.child('containerPort'), 'required');
    }
  } else {
    for (const m of isValidPortNum(containerPort)) c.report(path.child('containerPort'), `invalid port ${containerPort}: ${m}`);
  }
  const hostPort = readInteger(c, raw, 'hostPort', path.child('hostPort'));
  if (hostPort !== undefined && hostPort !== 0) {
    for (const m of isValidPortNum(hostPort)) c.report(path.child('hostPort'), `invalid port ${hostPort}: ${m}`);
  }
  const proto = readString(c, raw, 'protocol', path.child('protocol'));
  let protocol: Protocol = 'TCP';
  if (proto !== undefined && proto !== '') {
    if (isProtocol(proto)) protocol = proto;
    else c.report(path.child('protocol'), `unsupported value ${quote(proto)}: must be one of "TCP", "UDP", "SCTP"`);
  }
  if (c.count !== before || containerPort === undefined) return undefined;
  const port: ContainerPortSpec = { containerPort, protocol };
  if (name !== undefined && name !== '') port.name = name;
  if (hostPort !== undefined && hostPort !== 0) port.hostPort = hostPort;
  return port;
}

function readContainer(c: Checker, raw: unknown, path: FieldPath, containerNames: Map<string, number>, index: number): ContainerSpec | undefined {
  if (!isObject(raw)) {
    c.report(path, `must be an object, got ${describeValue(raw)}`);
    return undefined;
  }
  const name = readString(c, raw, 'name', path.child('name'));
  if (name === undefined || name === '') {
    if (name === '' || raw['name'] === undefined || raw['name'] === null) c.report(path.child('name'), 'required');
  } else {
    const errs = isDNS1123Label(name);
    if (errs.length > 0) {
      c.report(path.child('name'), `invalid name ${quote(name)}: ${errs.join('; ')}`);
    } else {
      const first = containerNames.get(name);
      if (first !== undefined) c.report(path.child('name'), `duplicate container name ${quote(name)} (also containers[${first}])`);
      else containerNames.set(name, index);
    }
  }
  const ports: ContainerPortSpec[] = [];
  const rawPorts = readList(c, raw, 'ports', path.child('ports'));
  const portNames = new Map<string, number>();
  rawPorts?.forEach((p, i) => {
    const port = readPort(c, p, path.child('ports').index(i), portNames, i);
    if (port) ports.push(port);
  });
  return { name: name ?? '', ports };
}

export function validatePod(c: Checker, raw: RawObject, meta: ObjectMeta): PodSpec {
  const specPath = FieldPath.root().child('spec');
  const spec = readObject(c, raw, 'spec', specPath, { required: true });
  const containers: ContainerSpec[] = [];
  let hostNetwork = false;
  if (spec) {
    hostNetwork = readBoolean(c, spec, 'hostNetwork', specPath.child('hostNetwork')) ?? false;
    const list = readList(c, spec, 'containers', specPath.child('containers'), { required: true });
    if (list && list.length === 0) c.report(specPath.child('containers'), 'must have at least one container');
    const names = new Map<string, number>();
    list?.forEach((item, i) => {
      const ctr = readContainer(c, item, specPath.child('containers').index(i), names, i);
      if (ctr) containers.push(ctr);
    });
  }
  return {
    namespace: meta.namespace ?? 'default',
    name: meta.name,
    labels: meta.labels,
    hostNetwork,
    containers,
  };
}

export const podKind: KindDefinition<'Pod', PodSpec> = {
  kind: 'Pod',
  apiVersions: ['v1'],
  namespaced: true,
  name: isDNS1123Subdomain,
  validate: validatePod,
};
