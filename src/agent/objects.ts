// How desired-state objects are keyed in the kvstore, one key per object.
import type { KubeObject } from '../k8s/registry.ts';
import type { PodSpec } from '../k8s/pod.ts';

export type StoredPod = PodSpec;

export function podKey(namespace: string, name: string): string {
  return `pods/${namespace}/${name}`;
}

export const SERVICES_PREFIX = 'services/';
export const ENDPOINTSLICES_PREFIX = 'endpointslices/';

export function serviceKey(namespace: string, name: string): string {
  return `${SERVICES_PREFIX}${namespace}/${name}`;
}

export const NAMESPACES_PREFIX = 'namespaces/';
/** Policies of every kind: `policies/<Kind>/<namespace>/<name>`, cluster-wide ones `policies/<Kind>/<name>`. */
export const POLICIES_PREFIX = 'policies/';

/** Where each kind is kept (namespaced kinds add `<namespace>/`). */
const PREFIX: Record<string, string> = {
  Pod: 'pods/',
  Namespace: NAMESPACES_PREFIX,
  Service: SERVICES_PREFIX,
  EndpointSlice: ENDPOINTSLICES_PREFIX,
};

/** The store key of any supported object. */
export function storeKey(o: Pick<KubeObject, 'kind' | 'namespace' | 'name'>): string {
  const prefix = PREFIX[o.kind] ?? `${POLICIES_PREFIX}${o.kind}/`;
  // Cluster-scoped kinds (Namespace, CiliumClusterwideNetworkPolicy) have no namespace.
  return o.namespace === undefined ? `${prefix}${o.name}` : `${prefix}${o.namespace}/${o.name}`;
}
