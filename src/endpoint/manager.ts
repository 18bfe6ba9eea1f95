// Endpoints on this node: their records on disk, their links, their entries
// in the datapath maps. The manager is the one owner of all three, and the
// only writer: operations run one at a time.
//
// Crash safety: a record is written (state "creating") before any link is
// made, and removed only after the links and map entries are gone. At start
// restore() reconciles records, links and the pinned map in both directions,
// so neither links nor addresses leak, and live endpoints keep their traffic
// (their map entries and tc filters are updated in place, never flushed).
import fs from 'node:fs';
import path from 'node:path';
import type { AttachmentRef, EndpointCreateRequest, EndpointJSON } from '../agent/api-types.ts';
import type { Logger } from '../agent/log.ts';
import type { Datapath } from '../datapath/datapath.ts';
import { InputError, MembraneError, wrap } from '../errors.ts';
import { removeFileDurable, writeJsonAtomic } from '../kvstore/atomic-file.ts';
import type { Ipam } from './ipam.ts';
import { HOST_IF_RE, hostIfName, hostMac, podMac, validIfName } from './names.ts';
import { checkPodSide, createVeth, deleteVeth, findLink, listLinks } from './plumbing.ts';

export interface EndpointManagerConfig {
  stateDir: string;
  ipam: Ipam;
  datapath: Datapath;
  log: Logger;
  mtu?: number;
  /** Labels of the Pod object named by the endpoint, from the store. */
  podLabels(namespace: string, name: string): Record<string, string> | undefined;
  /**
   * The identity and policy flags of an endpoint about to be programmed
   * (the policy manager computes them, and writes the endpoint's policy
   * entries, before the endpoint's map entry exists: a new pod is never
   * open while its policy is being computed). Default: init, no policy.
   */
  policyState?(ep: EndpointJSON): EndpointPolicyState;
}

export interface EndpointPolicyState {
  identity: number;
  flags: number;
}

/** Identity of an endpoint whose labels are not resolved yet. */
const MB_ID_INIT = 5;

const MAX_ID = 65535;

export class EndpointManager {
  readonly #cfg: EndpointManagerConfig;
  readonly #dir: string;
  readonly #byKey = new Map<string, EndpointJSON>();
  readonly #listeners = new Set<() => void>();
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(cfg: EndpointManagerConfig) {
    this.#cfg = cfg;
    this.#dir = path.join(cfg.stateDir, 'endpoints');
  }

  /** Loads records and reconciles them with the kernel. */
  static async restore(cfg: EndpointManagerConfig): Promise<EndpointManager> {
    const m = new EndpointManager(cfg);
    await m.#serial(() => m.#restore());
    return m;
  }

  list(): EndpointJSON[] {
    return [...this.#byKey.values()].sort((a, b) => a.id - b.id);
  }

  /** By numeric id, host interface, container id, or "namespace/pod". */
  find(ref: string): EndpointJSON | undefined {
    const all = this.list();
    return (
      all.find((e) => String(e.id) === ref) ??
      all.find((e) => e.hostIfName === ref || e.containerID === ref) ??
      all.find((e) => `${e.podNamespace}/${e.podName}` === ref)
    );
  }

  get(ref: AttachmentRef): EndpointJSON | undefined {
    return this.#byKey.get(key(ref));
  }

  create(req: EndpointCreateRequest): Promise<EndpointJSON> {
    return this.#serial(() => this.#create(req));
  }

  delete(ref: AttachmentRef): Promise<boolean> {
    return this.#serial(() => this.#delete(ref));
  }

  /** Throws a MembraneError saying what is wrong; resolves when the endpoint is intact. */
  check(ref: AttachmentRef): Promise<void> {
    return this.#serial(() => this.#check(ref));
  }

  /** Removes every endpoint not in `valid` (CNI GC). */
  gc(valid: readonly AttachmentRef[]): Promise<AttachmentRef[]> {
    return this.#serial(async () => {
      const keep = new Set(valid.map(key));
      const removed: AttachmentRef[] = [];
      for (const ep of this.list()) {
        if (keep.has(key(ep))) continue;
        await this.#delete(ep);
        removed.push({ containerID: ep.containerID, ifName: ep.ifName });
      }
      return removed;
    });
  }

  /** Applies the labels of a Pod object to its endpoints (called on store changes). */
  relabel(namespace: string, name: string, labels: Record<string, string>): Promise<number> {
    return this.#serial(async () => {
      let n = 0;
      for (const ep of this.#byKey.values()) {
        if (ep.podNamespace !== namespace || ep.podName !== name) continue;
        if (sameLabels(ep.labels, labels)) continue;
        ep.labels = { ...labels };
        this.#save(ep);
        n++;
        this.#cfg.log.info('endpoint labels changed', { endpoint: ep.id, pod: `${namespace}/${name}`, labels });
      }
      return n;
    });
  }

  /** PolicyAuditMode of one endpoint (kept in its record); resolves to the endpoint. */
  setPolicyAuditMode(ref: string, enabled: boolean): Promise<EndpointJSON> {
    return this.#serial(async () => {
      const ep = this.find(ref);
      if (!ep) throw new MembraneError('NOT_FOUND', `no endpoint '${ref}' (give an id, container id, host interface or namespace/pod) — see 'membrane endpoint list'`);
      if ((ep.policyAuditMode ?? false) !== enabled) {
        ep.policyAuditMode = enabled;
        this.#save(ep);
        this.#cfg.log.info('endpoint policy audit mode', { endpoint: ep.id, enabled });
      }
      return ep;
    });
  }

  /**
   * Writes an endpoint's identity and policy flags into its datapath entry
   * (in place) and its record. Synchronous, outside the operation queue: the
   * policy manager calls it while it programs the maps, also from
   * policyState() during a create.
   */
  setPolicyState(id: number, state: EndpointPolicyState): void {
    let ep: EndpointJSON | undefined;
    for (const e of this.#byKey.values()) if (e.id === id) ep = e;
    if (!ep || (ep.identity === state.identity && ep.policyFlags === state.flags)) return;
    ep.identity = state.identity;
    ep.policyFlags = state.flags;
    if (ep.hostIfIndex !== 0 && ep.state !== 'deleting') {
      const cur = this.#cfg.datapath.endpoints.lookup({ ip4: ep.ipv4 });
      if (cur && cur.lxc_id === ep.id) this.#cfg.datapath.endpoints.update({ ip4: ep.ipv4 }, { ...cur, identity: state.identity, flags: state.flags });
    }
    this.#save(ep);
  }

  /** Calls back after every change of the set of endpoints or of their labels or settings. */
  onChange(cb: () => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    void run.then(
      () => this.#changed(),
      () => this.#changed(),
    );
    return run;
  }

  #changed(): void {
    for (const cb of this.#listeners) {
      try {
        cb();
      } catch (err) {
        this.#cfg.log.error('endpoint change listener failed', { err: err as Error });
      }
    }
  }

  async #create(req: EndpointCreateRequest): Promise<EndpointJSON> {
    validateCreate(req);
    const existing = this.#byKey.get(key(req));
    if (existing) {
      if (existing.netns !== req.netns) {
        throw new MembraneError('CONFLICT', `attachment ${req.containerID}/${req.ifName} exists with netns ${existing.netns}, not ${req.netns} — delete it first`);
      }
      if (existing.state === 'ready') return existing;
      await this.#teardown(existing); // a half-made endpoint from a failed ADD: start over
    }
    if (!fs.existsSync(req.netns)) {
      throw new MembraneError('NOT_FOUND', `network namespace ${req.netns} does not exist`);
    }
    if (!isNetns(req.netns)) {
      throw new InputError('netns', `${req.netns} is not a network namespace (expected a file on nsfs, such as /var/run/netns/NAME or /proc/PID/ns/net)`);
    }
    const { ipam, log } = this.#cfg;
    const ip = ipam.allocate();
    const hostIf = hostIfName(req.containerID, req.ifName);
    const podNamespace = req.podNamespace ?? '';
    const podName = req.podName ?? '';
    const ep: EndpointJSON = {
      id: this.#nextId(),
      containerID: req.containerID,
      ifName: req.ifName,
      state: 'creating',
      netns: req.netns,
      podNamespace,
      podName,
      labels: (podName && this.#cfg.podLabels(podNamespace, podName)) || {},
      ipv4: ip,
      prefixLength: 32,
      gateway: ipam.gateway,
      podMAC: podMac(ip),
      hostIfName: hostIf,
      hostIfIndex: 0,
      hostMAC: hostMac(hostIf),
      createdAt: new Date().toISOString(),
    };
    this.#byKey.set(key(ep), ep);
    try {
      this.#save(ep);
      ep.hostIfIndex = await createVeth({
        hostIf,
        hostMac: ep.hostMAC,
        podIf: req.ifName,
        podMac: ep.podMAC,
        netns: req.netns,
        ip,
        gateway: ep.gateway,
        mtu: this.#cfg.mtu ?? 1500,
      });
      this.#program(ep, true);
      ep.state = 'ready';
      this.#save(ep);
    } catch (err) {
      log.warn('endpoint creation failed, rolling back', { containerID: req.containerID, err: err as Error });
      await this.#teardown(ep).catch((e: unknown) => log.error('rollback failed', { err: e as Error }));
      throw wrap(err, `create endpoint ${req.containerID}/${req.ifName}`);
    }
    log.info('endpoint created', { endpoint: ep.id, ip, hostIf, pod: podName ? `${podNamespace}/${podName}` : undefined });
    return ep;
  }

  /**
   * Writes the endpoint's map entry and attaches the programs to its veth.
   * Identity and policy flags come from the policy manager (a new endpoint)
   * or from the record (a restart: the same values, written at once).
   */
  #program(ep: EndpointJSON, fresh: boolean): void {
    const dp = this.#cfg.datapath;
    const state = fresh && this.#cfg.policyState ? this.#cfg.policyState(ep) : { identity: ep.identity ?? MB_ID_INIT, flags: ep.policyFlags ?? 0 };
    ep.identity = state.identity;
    ep.policyFlags = state.flags;
    dp.endpoints.update(
      { ip4: ep.ipv4 },
      { ifindex: ep.hostIfIndex, lxc_id: ep.id, identity: state.identity, flags: state.flags, mac: ep.podMAC, node_mac: ep.hostMAC },
    );
    dp.attachEndpoint(ep.hostIfIndex);
  }

  async #delete(ref: AttachmentRef): Promise<boolean> {
    const ep = this.#byKey.get(key(ref));
    if (!ep) return false;
    ep.state = 'deleting';
    this.#save(ep);
    await this.#teardown(ep);
    this.#cfg.log.info('endpoint deleted', { endpoint: ep.id, ip: ep.ipv4 });
    return true;
  }

  /** Removes map entry, links, address and record; each step tolerates "already gone". */
  async #teardown(ep: EndpointJSON): Promise<void> {
    const cur = this.#cfg.datapath.endpoints.lookup({ ip4: ep.ipv4 });
    if (cur && cur.lxc_id === ep.id) this.#cfg.datapath.endpoints.delete({ ip4: ep.ipv4 });
    await deleteVeth(ep.hostIfName);
    this.#cfg.ipam.release(ep.ipv4);
    removeFileDurable(this.#file(ep));
    this.#byKey.delete(key(ep));
  }

  async #check(ref: AttachmentRef): Promise<void> {
    const ep = this.#byKey.get(key(ref));
    if (!ep) throw new MembraneError('NOT_FOUND', `no endpoint for attachment ${ref.containerID}/${ref.ifName}`);
    if (ep.state !== 'ready') throw new MembraneError('CONFLICT', `endpoint ${ep.id} is ${ep.state}, not ready`);
    const idx = await findLink(ep.hostIfName);
    if (idx === undefined) throw new MembraneError('CONFLICT', `host interface ${ep.hostIfName} of endpoint ${ep.id} is missing`);
    if (idx !== ep.hostIfIndex) throw new MembraneError('CONFLICT', `host interface ${ep.hostIfName} has ifindex ${idx}, expected ${ep.hostIfIndex}`);
    const entry = this.#cfg.datapath.endpoints.lookup({ ip4: ep.ipv4 });
    if (!entry || entry.ifindex !== idx || entry.lxc_id !== ep.id) {
      throw new MembraneError('CONFLICT', `datapath entry for ${ep.ipv4} is missing or stale`);
    }
    if (!this.#cfg.datapath.endpointProgramCurrent(idx)) {
      throw new MembraneError('CONFLICT', `from-endpoint program is not attached to ${ep.hostIfName}`);
    }
    const pod = await checkPodSide(ep.netns, ep.ifName, ep.ipv4);
    if (pod) throw new MembraneError('CONFLICT', pod);
  }

  async #restore(): Promise<void> {
    const { datapath, ipam, log } = this.#cfg;
    fs.mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    const records: EndpointJSON[] = [];
    for (const f of fs.readdirSync(this.#dir)) {
      if (!f.endsWith('.json')) continue;
      try {
        records.push(JSON.parse(fs.readFileSync(path.join(this.#dir, f), 'utf8')) as EndpointJSON);
      } catch (err) {
        log.error('unreadable endpoint record, moved aside', { file: f, err: err as Error });
        fs.renameSync(path.join(this.#dir, f), path.join(this.#dir, `${f}.corrupt`));
      }
    }
    for (const ep of records) {
      this.#byKey.set(key(ep), ep);
      if (!ipam.claim(ep.ipv4)) log.warn('endpoint address outside the pod CIDR or duplicated', { endpoint: ep.id, ip: ep.ipv4 });
    }
    let restored = 0;
    for (const ep of records) {
      if (ep.state !== 'ready') {
        // An operation was interrupted: finish the delete / undo the create.
        log.info('finishing interrupted endpoint operation', { endpoint: ep.id, state: ep.state });
        await this.#teardown(ep);
        continue;
      }
      const idx = await findLink(ep.hostIfName);
      if (idx === undefined) {
        // The pod's netns went away while we were down; the runtime will DEL
        // or GC it. Keep the record (and the address) until then.
        log.warn('endpoint link is gone; waiting for the runtime to delete it', { endpoint: ep.id, hostIf: ep.hostIfName });
        const cur = datapath.endpoints.lookup({ ip4: ep.ipv4 });
        if (cur && cur.lxc_id === ep.id) datapath.endpoints.delete({ ip4: ep.ipv4 });
        continue;
      }
      if (idx !== ep.hostIfIndex) {
        ep.hostIfIndex = idx;
        this.#save(ep);
      }
      this.#program(ep, false); // in-place update + atomic filter replace: traffic keeps flowing
      restored++;
    }
    // Datapath entries and links that no record explains are leftovers of a crash.
    const known = new Set(this.list().map((e) => e.ipv4));
    for (const [k] of [...datapath.endpoints.entries()]) {
      if (!known.has(k.ip4)) {
        datapath.endpoints.delete(k);
        log.info('removed stale datapath entry', { ip: k.ip4 });
      }
    }
    const knownIfs = new Set(this.list().map((e) => e.hostIfName));
    for (const l of await listLinks(HOST_IF_RE)) {
      if (!knownIfs.has(l.name)) {
        await deleteVeth(l.name);
        log.info('removed orphan veth', { hostIf: l.name });
      }
    }
    log.info('endpoints restored', { endpoints: restored });
  }

  #nextId(): number {
    const used = new Set([...this.#byKey.values()].map((e) => e.id));
    for (let id = 1; id <= MAX_ID; id++) if (!used.has(id)) return id;
    throw new MembraneError('IPAM_EXHAUSTED', 'no free endpoint id on this node');
  }

  #file(ep: EndpointJSON): string {
    return path.join(this.#dir, `${ep.hostIfName}.json`);
  }

  #save(ep: EndpointJSON): void {
    writeJsonAtomic(this.#file(ep), ep);
  }
}

const NSFS_MAGIC = 0x6e736673;

/** True unless the path is provably not on nsfs (statfs may be refused for /proc/PID/ns/*). */
function isNetns(p: string): boolean {
  try {
    return fs.statfsSync(p).type === NSFS_MAGIC;
  } catch {
    return true;
  }
}

function key(ref: AttachmentRef): string {
  return `${ref.containerID}\u0000${ref.ifName}`;
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

function validateCreate(req: EndpointCreateRequest): void {
  if (typeof req.containerID !== 'string' || req.containerID.length === 0) throw new InputError('containerID', 'must be a non-empty string');
  if (typeof req.ifName !== 'string' || !validIfName(req.ifName)) throw new InputError('ifName', `'${String(req.ifName)}' is not a valid interface name (1-15 characters, no '/', ':' or spaces)`);
  if (typeof req.netns !== 'string' || !req.netns.startsWith('/')) throw new InputError('netns', 'must be an absolute path to a network namespace');
  if (/\s/.test(req.netns)) throw new InputError('netns', 'must not contain white space');
}
