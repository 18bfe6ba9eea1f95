// The socket-LB tests' own hand on the service maps: frontends, backends and
// reverse NAT written straight into the agent's pinned maps, the way the
// service manager lays them out (abi.h): backend slots 1..count first, then
// the service entry (slot 0) with the count, so a reader never sees a count
// that points past the written slots.
import path from 'node:path';
import {
  lb4Affinity, lb4AffinityKey, lb4Backend, lb4BackendKey, lb4Key, lb4Revnat, lb4RevnatKey, lb4Service, sock4Revnat, sock4RevnatKey,
  MB_BACKEND_ACTIVE, MB_LB_SCOPE_INT, MB_SVC_F_AFFINITY, MB_SVC_F_CLUSTER_IP,
  type Lb4Affinity, type Lb4AffinityKey, type Lb4Backend, type Lb4BackendKey, type Lb4Key, type Lb4Revnat, type Lb4RevnatKey,
  type Lb4Service, type Sock4Revnat, type Sock4RevnatKey,
} from '../../src/datapath/abi.ts';
import type { Codec } from '../../src/datapath/codec.ts';
import { BpfMap } from '../../src/datapath/map.ts';

export const TCP = 6;
export const UDP = 17;

export interface Frontend {
  addr: string;
  port: number;
  proto: number;
  /** Default MB_LB_SCOPE_INT (socket LB). */
  scope?: number;
  revNatId: number;
  /** Backend ids for slots 1..n (the active backends). */
  backends: number[];
  flags?: number;
  /** Seconds; sets MB_SVC_F_AFFINITY. */
  affinityTimeout?: number;
}

export class LbMaps {
  readonly svc: BpfMap<Lb4Key, Lb4Service>;
  readonly backend: BpfMap<Lb4BackendKey, Lb4Backend>;
  readonly revnat: BpfMap<Lb4RevnatKey, Lb4Revnat>;
  readonly affinity: BpfMap<Lb4AffinityKey, Lb4Affinity>;
  readonly sockRevnat: BpfMap<Sock4RevnatKey, Sock4Revnat>;
  /** Slots written per frontend, to delete the stale ones on rewrite. */
  readonly #slots = new Map<string, number>();

  constructor(pinDir: string) {
    const open = <K, V>(name: string, k: Codec<K>, v: Codec<V>) => BpfMap.openPinned(path.join(pinDir, name), k, v);
    this.svc = open('mb_lb4_svc', lb4Key, lb4Service);
    this.backend = open('mb_lb4_backend', lb4BackendKey, lb4Backend);
    this.revnat = open('mb_lb4_revnat', lb4RevnatKey, lb4Revnat);
    this.affinity = open('mb_lb4_affinity', lb4AffinityKey, lb4Affinity);
    this.sockRevnat = open('mb_sock4_revnat', sock4RevnatKey, sock4Revnat);
  }

  setBackend(id: number, addr: string, port: number, proto: number, state = MB_BACKEND_ACTIVE): void {
    this.backend.update({ backend_id: id }, { addr, port, proto, state, flags: 1 /* MB_BE_F_LOCAL */ });
  }

  setFrontend(fe: Frontend): void {
    const scope = fe.scope ?? MB_LB_SCOPE_INT;
    const key = (slot: number): Lb4Key => ({ addr: fe.addr, dport: fe.port, slot, proto: fe.proto, scope });
    fe.backends.forEach((id, i) => this.svc.update(key(i + 1), { backend_id: id, count: 0, rev_nat_id: 0, flags: 0, affinity_timeout: 0 }));
    let flags = fe.flags ?? MB_SVC_F_CLUSTER_IP;
    if (fe.affinityTimeout !== undefined) flags |= MB_SVC_F_AFFINITY;
    this.svc.update(key(0), { backend_id: 0, count: fe.backends.length, rev_nat_id: fe.revNatId, flags, affinity_timeout: fe.affinityTimeout ?? 0 });
    const id = frontendId(fe.addr, fe.port, fe.proto, scope);
    for (let slot = fe.backends.length + 1; slot <= (this.#slots.get(id) ?? 0); slot++) this.svc.delete(key(slot));
    this.#slots.set(id, fe.backends.length);
    this.revnat.update({ rev_nat_id: fe.revNatId }, { addr: fe.addr, port: fe.port });
  }

  deleteFrontend(addr: string, port: number, proto: number, scope = MB_LB_SCOPE_INT): void {
    const id = frontendId(addr, port, proto, scope);
    for (let slot = 0; slot <= (this.#slots.get(id) ?? 0); slot++) this.svc.delete({ addr, dport: port, slot, proto, scope });
    this.#slots.delete(id);
  }

  close(): void {
    for (const m of [this.svc, this.backend, this.revnat, this.affinity, this.sockRevnat]) m.close();
  }
}

function frontendId(addr: string, port: number, proto: number, scope: number): string {
  return `${addr}:${port}/${proto}/${scope}`;
}
