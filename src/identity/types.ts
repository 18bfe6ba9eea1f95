// Security identities: a number per distinct label set. Reserved identities
// have fixed numbers and one `reserved:` label each; endpoint identities
// (label sets of pods, namespace labels included) are allocated cluster-wide
// from MB_ID_CLUSTER_MIN; CIDR identities, local to a node, from
// MB_ID_CIDR_MIN (one per prefix that a policy mentions).
import {
  MB_ID_HEALTH,
  MB_ID_HOST,
  MB_ID_INIT,
  MB_ID_KUBE_APISERVER,
  MB_ID_REMOTE_NODE,
  MB_ID_UNMANAGED,
  MB_ID_WORLD,
} from '../datapath/abi.ts';

/** Identity labels: `source:key` → value (`''` for labels without a value, such as `reserved:host`). */
export type Labels = Record<string, string>;

export type IdentityKind = 'reserved' | 'endpoint' | 'cidr';

export interface Identity {
  id: number;
  labels: Labels;
  kind: IdentityKind;
  /** kind 'cidr': the prefix, canonical `a.b.c.d/n`. */
  cidr?: string;
}

export type ReservedName = 'host' | 'world' | 'unmanaged' | 'health' | 'init' | 'remote-node' | 'kube-apiserver';

export const RESERVED_IDS: Readonly<Record<ReservedName, number>> = {
  host: MB_ID_HOST,
  world: MB_ID_WORLD,
  unmanaged: MB_ID_UNMANAGED,
  health: MB_ID_HEALTH,
  init: MB_ID_INIT,
  'remote-node': MB_ID_REMOTE_NODE,
  'kube-apiserver': MB_ID_KUBE_APISERVER,
};

/** The reserved identities, by number; labels `{ 'reserved:<name>': '' }`. */
export const RESERVED_IDENTITIES: readonly Identity[] = Object.freeze(
  (Object.entries(RESERVED_IDS) as [ReservedName, number][])
    .sort((a, b) => a[1] - b[1])
    .map(([name, id]) => Object.freeze({ id, kind: 'reserved' as const, labels: Object.freeze({ [`reserved:${name}`]: '' }) })),
);

const BY_ID = new Map(RESERVED_IDENTITIES.map((i) => [i.id, i]));

/** The reserved identity with this number, if it is one. */
export function reservedIdentity(id: number): Identity | undefined {
  return BY_ID.get(id);
}

/** `host` for 1, ...; undefined when not reserved. */
export function reservedName(id: number): ReservedName | undefined {
  const i = BY_ID.get(id);
  if (!i) return undefined;
  return Object.keys(i.labels)[0]!.slice('reserved:'.length) as ReservedName;
}
