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

/** The store key of any supported object. */
export function storeKey(o: KubeObject): string {
  switch (o.kind) {
    case 'Pod':
      return podKey(o.namespace ?? 'default', o.name);
    case 'Namespace':
      return `namespaces/${o.name}`;
    case 'Service':
      return serviceKey(o.namespace ?? 'default', o.name);
    case 'EndpointSlice':
      return `${ENDPOINTSLICES_PREFIX}${o.namespace ?? 'default'}/${o.name}`;
  }
}
