// v1 Namespace: a name and labels. Namespace labels take part in identities
// and in namespaceSelector matching.

import { type ObjectMeta, type RawObject, isDNS1123Label } from './meta.ts';
import type { Checker } from './problems.ts';
import type { KindDefinition } from './registry.ts';

/** The label Kubernetes sets on every Namespace (since 1.21), overriding any value given. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export interface NamespaceSpec {
  name: string;
  /** Includes `kubernetes.io/metadata.name: <name>`. */
  labels: Record<string, string>;
}

export function validateNamespace(_c: Checker, _raw: RawObject, meta: ObjectMeta): NamespaceSpec {
  return { name: meta.name, labels: { ...meta.labels, [NAMESPACE_NAME_LABEL]: meta.name } };
}

export const namespaceKind: KindDefinition<'Namespace', NamespaceSpec> = {
  kind: 'Namespace',
  apiVersions: ['v1'],
  namespaced: false,
  name: isDNS1123Label,
  validate: validateNamespace,
};
