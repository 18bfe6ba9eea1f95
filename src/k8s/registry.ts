// The kinds Membrane understands. Each kind lives in its own file and
// exports a KindDefinition; adding a kind (Service, EndpointSlice,
// NetworkPolicy, CiliumNetworkPolicy, ...) means writing that file and
// adding it to `KindSpecs` and `KINDS` below.

import type { PolicySpec } from '../policy/types.ts';
import { ciliumClusterwideNetworkPolicyKind, ciliumNetworkPolicyKind } from './ciliumnetworkpolicy.ts';
import { type EndpointSliceSpec, endpointSliceKind } from './endpointslice.ts';
import { type NameRule, type ObjectMeta, type RawObject, quote, readObjectMeta, readString } from './meta.ts';
import { type NamespaceSpec, namespaceKind } from './namespace.ts';
import { networkPolicyKind } from './networkpolicy.ts';
import { type PodSpec, podKind } from './pod.ts';
import { type Checker, FieldPath } from './problems.ts';
import { type ServiceSpec, serviceKind } from './service.ts';

/** How one kind is recognised and validated. */
export interface KindDefinition<K extends string = string, S = unknown> {
  readonly kind: K;
  /** Accepted apiVersions, the preferred one first (e.g. `v1`, `networking.k8s.io/v1`). */
  readonly apiVersions: readonly string[];
  /** Namespaced kinds get metadata.namespace (default "default"); cluster-scoped ones none. */
  readonly namespaced: boolean;
  /** Rule for metadata.name (upstream differs per kind: Pods use DNS-1123 subdomain, Namespaces DNS-1123 label, ...). */
  readonly name: NameRule;
  /**
   * Validates the kind-specific part of the object (metadata is already
   * validated and given as `meta`). Reports problems to `c`; when it
   * reported any, its result is discarded, so it may return a partial spec.
   */
  validate(c: Checker, raw: RawObject, meta: ObjectMeta): S;
}

/** Kind name → spec type. Add new kinds here and in KINDS. */
export interface KindSpecs {
  Namespace: NamespaceSpec;
  Pod: PodSpec;
  Service: ServiceSpec;
  EndpointSlice: EndpointSliceSpec;
  NetworkPolicy: PolicySpec;
  CiliumNetworkPolicy: PolicySpec;
  CiliumClusterwideNetworkPolicy: PolicySpec;
}

export type KindName = keyof KindSpecs;

const KINDS: { readonly [K in KindName]: KindDefinition<K, KindSpecs[K]> } = {
  Namespace: namespaceKind,
  Pod: podKind,
  Service: serviceKind,
  EndpointSlice: endpointSliceKind,
  NetworkPolicy: networkPolicyKind,
  CiliumNetworkPolicy: ciliumNetworkPolicyKind,
  CiliumClusterwideNetworkPolicy: ciliumClusterwideNetworkPolicyKind,
};

/** Where an object came from, for messages. */
export interface SourceRef {
  /** Display name, e.g. `doc 2 (Pod default/web)`. */
  document: string;
  /** 1-based index of the document in its file. */
  index: number;
  /** 1-based line where the object starts, when known. */
  line?: number;
}

export interface TypedObject<K extends KindName> {
  apiVersion: string;
  kind: K;
  /** Set for namespaced kinds, absent for cluster-scoped ones. */
  namespace?: string;
  name: string;
  spec: KindSpecs[K];
  source?: SourceRef;
}

/** A validated object of any supported kind; narrow on `kind` to get a typed `spec`. */
export type KubeObject = { [K in KindName]: TypedObject<K> }[KindName];

function isKindName(kind: string): kind is KindName {
  return Object.hasOwn(KINDS, kind);
}

/** The definition of a kind, by its exact (case-sensitive) name. */
export function findKind(kind: string): KindDefinition | undefined {
  return isKindName(kind) ? (KINDS[kind] as KindDefinition) : undefined;
}

/** `apiVersion/kind` pairs accepted, e.g. `v1/Pod`, sorted. */
export function supportedKinds(): string[] {
  return Object.values(KINDS)
    .flatMap((d: KindDefinition) => d.apiVersions.map((v) => `${v}/${d.kind}`))
    .sort();
}

/** Stable key of an object: `Pod/default/web`, `Namespace//prod`. */
export function objectKey(obj: { kind: string; namespace?: string | undefined; name: string }): string {
  return `${obj.kind}/${obj.namespace ?? ''}/${obj.name}`;
}

/**
 * Validates one raw object (a parsed document) into a typed KubeObject.
 * Reports every problem to `c` and returns undefined if there was any.
 */
export function validateObject(c: Checker, raw: RawObject, source?: SourceRef): KubeObject | undefined {
  const before = c.count;
  const root = FieldPath.root();
  const apiVersion = readString(c, raw, 'apiVersion', root.child('apiVersion'), { required: true });
  const kind = readString(c, raw, 'kind', root.child('kind'), { required: true });
  if (apiVersion === '') c.report(root.child('apiVersion'), 'required');
  if (kind === '') c.report(root.child('kind'), 'required');
  if (!apiVersion || !kind) return undefined;

  const def = findKind(kind);
  if (!def) {
    const lower = kind.toLowerCase();
    const near = Object.keys(KINDS).find((k) => k.toLowerCase() === lower);
    const hint = near ? `did you mean ${quote(near)}? ` : '';
    c.report(root.child('kind'), `unsupported apiVersion/kind "${apiVersion}/${kind}": ${hint}supported: ${supportedKinds().join(', ')}`);
    return undefined;
  }
  if (!def.apiVersions.includes(apiVersion)) {
    const want = def.apiVersions.map((v) => quote(v)).join(' or ');
    c.report(root.child('apiVersion'), `${kind} is not served as ${quote(apiVersion)}: use apiVersion ${want}`);
    // Carry on: the rest of the object can still be checked against the known kind.
  }

  const meta = readObjectMeta(c, raw, { namespaced: def.namespaced, name: def.name });
  const spec = def.validate(c, raw, meta);
  if (c.count !== before) return undefined;

  const obj: { apiVersion: string; kind: string; namespace?: string; name: string; spec: unknown; source?: SourceRef } = {
    apiVersion,
    kind,
    name: meta.name,
    spec,
  };
  if (meta.namespace !== undefined) obj.namespace = meta.namespace;
  if (source) obj.source = source;
  return obj as KubeObject;
}
