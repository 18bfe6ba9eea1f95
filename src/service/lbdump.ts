// What the load balancer's pinned maps hold, read straight from bpffs (no
// agent needed): frontends with their backends, and the conntrack table of
// the per-packet LB. For `membrane bpf lb list` / `membrane bpf ct list`
// and for tests that check the maps.
import path from 'node:path';
import {
  ct4Entry, ct4Key, lb4Backend, lb4BackendKey, lb4Key, lb4Revnat, lb4RevnatKey, lb4Service, MB_CT_DIR_FWD, MB_CT_F_CLOSING, MB_CT_F_DSR,
  MB_CT_F_SEEN_REPLY, MB_CT_F_SNAT, MB_LB_SCOPE_EXT, u32Key,
} from '../datapath/abi.ts';
import { BpfMap } from '../datapath/map.ts';
import type { Codec } from '../datapath/codec.ts';
import { KernelError } from '../errors.ts';
import { intToIp4 } from '../net/ip4.ts';
import { backendFlagNames, backendStateName, svcFlagNames } from './flags.ts';
import { BACKEND_SIZE, KEY_SIZE, readBackend, readKey, REVNAT_SIZE, SVC_SIZE } from './lbmaps.ts';
import { PROTO_NAME } from './lbstate.ts';
import { allKeysRaw, closeFd, dumpRaw, lookupRaw, mapFdById } from './rawmap.ts';
import { mapInfo } from '../datapath/map.ts';

export interface LbBackendDump {
  id: number;
  address: string;
  port: number;
  protocol: string;
  state: string;
  flags: string[];
}

export interface LbFrontendDump {
  address: string;
  port: number;
  protocol: string;
  scope: 'external' | 'internal';
  revNatId: number;
  flags: string[];
  affinityTimeout: number;
  /** Active backends in slot order; an id with no backend entry shows as state "missing". */
  backends: Array<LbBackendDump | { id: number; state: 'missing' }>;
  /** The frontend's Maglev table, when it has one. */
  maglev?: { mapId: number; name: string; entries: number };
  /** Slots the map holds beyond `count`, or missing below it (both are bugs; shown, not hidden). */
  problems?: string[];
}

export interface LbDump {
  frontends: LbFrontendDump[];
  /** Every entry of mb_lb4_backend, by id. */
  backends: LbBackendDump[];
  revNat: Array<{ id: number; address: string; port: number }>;
}

function open<K, V>(pinDir: string, name: string, key: Codec<K>, value: Codec<V>): BpfMap<K, V> {
  const p = path.join(pinDir, name);
  try {
    return BpfMap.openPinned(p, key, value);
  } catch (err) {
    const errno = (err as KernelError).details?.errno;
    const hint = errno === 2 ? ` — is an agent running with --pin-dir ${pinDir}?` : errno === 1 || errno === 13 ? ' — run as root' : '';
    throw new KernelError('BPF_SYSCALL_FAILED', `${(err as Error).message}${hint}`, { cause: err });
  }
}

/** Reads mb_lb4_svc, mb_lb4_backend, mb_lb4_revnat and mb_lb4_maglev under `pinDir`. */
export function dumpLoadBalancer(pinDir: string): LbDump {
  const maps: Array<BpfMap<unknown, unknown>> = [];
  const take = <K, V>(m: BpfMap<K, V>) => (maps.push(m as BpfMap<unknown, unknown>), m);
  try {
    const svc = take(open(pinDir, 'mb_lb4_svc', lb4Key, lb4Service));
    const be = take(open(pinDir, 'mb_lb4_backend', lb4BackendKey, lb4Backend));
    const rn = take(open(pinDir, 'mb_lb4_revnat', lb4RevnatKey, lb4Revnat));
    const backends = new Map<number, LbBackendDump>();
    const b = dumpRaw(be.fd, 4, BACKEND_SIZE, 'mb_lb4_backend');
    for (let i = 0; i < b.count; i++) {
      const id = b.keys.readUInt32LE(4 * i);
      const v = readBackend(b.values, BACKEND_SIZE * i);
      backends.set(id, { id, address: intToIp4(v.addr), port: v.port, protocol: PROTO_NAME[v.proto] ?? String(v.proto), state: backendStateName(v.state), flags: backendFlagNames(v.flags) });
    }
    const revNat: LbDump['revNat'] = [];
    const r = dumpRaw(rn.fd, 4, REVNAT_SIZE, 'mb_lb4_revnat');
    for (let i = 0; i < r.count; i++) revNat.push({ id: r.keys.readUInt32LE(4 * i), address: intToIp4(r.values.readUInt32BE(REVNAT_SIZE * i)), port: r.values.readUInt16BE(REVNAT_SIZE * i + 4) });
    revNat.sort((x, y) => x.id - y.id);

    const maglev = readMaglev(pinDir);
    const groups = new Map<string, { key: ReturnType<typeof readKey>; head?: { count: number; revNat: number; flags: number; timeout: number }; slots: Map<number, number> }>();
    const s = dumpRaw(svc.fd, KEY_SIZE, SVC_SIZE, 'mb_lb4_svc');
    for (let i = 0; i < s.count; i++) {
      const k = readKey(s.keys, KEY_SIZE * i);
      const g = `${k.addr}|${k.port}|${k.proto}|${k.scope}`;
      let e = groups.get(g);
      if (!e) groups.set(g, (e = { key: k, slots: new Map() }));
      const off = SVC_SIZE * i;
      if (k.slot === 0) e.head = { count: s.values.readUInt16LE(off + 4), revNat: s.values.readUInt16LE(off + 6), flags: s.values.readUInt32LE(off + 8), timeout: s.values.readUInt32LE(off + 12) };
      else e.slots.set(k.slot, s.values.readUInt32LE(off));
    }
    const frontends: LbFrontendDump[] = [];
    for (const { key, head, slots } of groups.values()) {
      const count = head?.count ?? 0;
      const problems: string[] = [];
      if (!head) problems.push('backend slots without a service entry (slot 0)');
      const list: LbFrontendDump['backends'] = [];
      for (let slot = 1; slot <= count; slot++) {
        const id = slots.get(slot);
        if (id === undefined) {
          problems.push(`slot ${slot} is missing`);
          continue;
        }
        list.push(backends.get(id) ?? { id, state: 'missing' });
      }
      const extra = [...slots.keys()].filter((n) => n > count).sort((x, y) => x - y);
      if (extra.length > 0) problems.push(`slots beyond count ${count}: ${extra.join(', ')}`);
      const f: LbFrontendDump = {
        address: intToIp4(key.addr),
        port: key.port,
        protocol: PROTO_NAME[key.proto] ?? String(key.proto),
        scope: key.scope === MB_LB_SCOPE_EXT ? 'external' : 'internal',
        revNatId: head?.revNat ?? 0,
        flags: svcFlagNames(head?.flags ?? 0),
        affinityTimeout: head?.timeout ?? 0,
        backends: list,
      };
      const table = head && key.scope === MB_LB_SCOPE_EXT ? maglev.get(head.revNat) : undefined;
      if (table) f.maglev = table;
      if (problems.length > 0) f.problems = problems;
      frontends.push(f);
    }
    frontends.sort((x, y) => cmpAddr(x.address, y.address) || x.port - y.port || x.protocol.localeCompare(y.protocol) || x.scope.localeCompare(y.scope));
    return { frontends, backends: [...backends.values()].sort((x, y) => x.id - y.id), revNat };
  } finally {
    for (const m of maps) m.close();
  }
}

function cmpAddr(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < 4; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

/** rev_nat_id → its Maglev table (kernel map id, name, size). */
function readMaglev(pinDir: string): Map<number, { mapId: number; name: string; entries: number }> {
  const out = new Map<number, { mapId: number; name: string; entries: number }>();
  const outer = open(pinDir, 'mb_lb4_maglev', u32Key, u32Key);
  try {
    const value = Buffer.alloc(4);
    for (const key of allKeysRaw(outer.fd, 4, 'mb_lb4_maglev')) {
      if (!lookupRaw(outer.fd, key, value, 'mb_lb4_maglev')) continue;
      const mapId = value.readUInt32LE(0);
      let name = '?';
      let entries = 0;
      try {
        const fd = mapFdById(mapId);
        try {
          const info = mapInfo(fd);
          name = info.name;
          entries = info.maxEntries;
        } finally {
          closeFd(fd);
        }
      } catch {
        // shown with what is known
      }
      out.set(key.readUInt32LE(0), { mapId, name, entries });
    }
  } finally {
    outer.close();
  }
  return out;
}

/** The backend ids of a frontend's Maglev table, slot by slot (for tests and debugging). */
export function readMaglevTable(mapId: number): Uint32Array {
  const fd = mapFdById(mapId);
  try {
    const { maxEntries } = mapInfo(fd);
    const { keys, values, count } = dumpRaw(fd, 4, 4, `Maglev table ${mapId}`, maxEntries);
    const table = new Uint32Array(maxEntries);
    for (let i = 0; i < count; i++) table[keys.readUInt32LE(4 * i)] = values.readUInt32LE(4 * i);
    return table;
  } finally {
    closeFd(fd);
  }
}

export interface CtEntryDump {
  direction: 'fwd' | 'rev';
  protocol: string;
  /** The tuple the entry is keyed by: client → frontend (fwd), backend → nat address (rev). */
  source: string;
  destination: string;
  client: string;
  frontend: string;
  backend: string;
  backendId: number;
  nat: string;
  revNatId: number;
  flags: string[];
  packets: string;
  bytes: string;
  /** Seconds since the entry last saw a packet. */
  ageSeconds: number;
  lastSeenNs: string;
}

const CT_FLAGS: Array<[number, string]> = [[MB_CT_F_SNAT, 'snat'], [MB_CT_F_DSR, 'dsr'], [MB_CT_F_CLOSING, 'closing'], [MB_CT_F_SEEN_REPLY, 'seen-reply']];

/** Every mb_ct4 entry, oldest activity last. `nowNs`: CLOCK_MONOTONIC now (the datapath's clock). */
export function dumpConntrack(pinDir: string, nowNs: bigint = process.hrtime.bigint()): CtEntryDump[] {
  const ct = open(pinDir, 'mb_ct4', ct4Key, ct4Entry);
  try {
    const { keys, values, count } = dumpRaw(ct.fd, ct4Key.size, ct4Entry.size, 'mb_ct4');
    const out: CtEntryDump[] = [];
    for (let i = 0; i < count; i++) {
      const k = ct4Key.decode(keys, i * ct4Key.size);
      const v = ct4Entry.decode(values, i * ct4Entry.size);
      const proto = PROTO_NAME[k.proto] ?? String(k.proto);
      out.push({
        direction: k.dir === MB_CT_DIR_FWD ? 'fwd' : 'rev',
        protocol: proto,
        source: `${k.saddr}:${k.sport}`,
        destination: `${k.daddr}:${k.dport}`,
        client: `${v.client_addr}:${v.client_port}`,
        frontend: `${v.fe_addr}:${v.fe_port}`,
        backend: `${v.backend_addr}:${v.backend_port}`,
        backendId: v.backend_id,
        nat: `${v.nat_addr}:${v.nat_port}`,
        revNatId: v.rev_nat_id,
        flags: CT_FLAGS.filter(([bit]) => v.flags & bit).map(([, n]) => n),
        packets: v.packets.toString(),
        bytes: v.bytes.toString(),
        ageSeconds: nowNs > v.last_seen_ns ? Number((nowNs - v.last_seen_ns) / 1_000_000n) / 1000 : 0,
        lastSeenNs: v.last_seen_ns.toString(),
      });
    }
    out.sort((a, b) => a.ageSeconds - b.ageSeconds || a.client.localeCompare(b.client) || a.direction.localeCompare(b.direction));
    return out;
  } finally {
    ct.close();
  }
}
