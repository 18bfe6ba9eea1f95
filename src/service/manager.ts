// The services control plane of one node: Services, EndpointSlices, Pods
// and local endpoints in, the eBPF load balancer's maps out. It is the one
// writer of mb_lb4_svc, mb_lb4_backend, mb_lb4_revnat and mb_lb4_maglev.
//
// On start it reads what the pinned maps hold (a previous agent's work) and
// recovers the backend and rev-NAT ids from them, then reconciles: entries
// that are right stay untouched, changed ones are rewritten, stale ones
// deleted — never a flush, so connections keep flowing through a restart.
// After that every change in the store (and every endpoint change the API
// reports) schedules a sync; changes that arrive together are synced once.
import { ENDPOINTSLICES_PREFIX, SERVICES_PREFIX } from '../agent/objects.ts';
import type { BackendStateRequest, BackendStateResponse, EndpointJSON, ServiceJSON } from '../agent/api-types.ts';
import type { Logger } from '../agent/log.ts';
import { MB_LB_MAGLEV_MAX, MB_LB_REVNAT_MAX } from '../datapath/abi.ts';
import type { Datapath } from '../datapath/datapath.ts';
import { InputError, MembraneError, errorMessage } from '../errors.ts';
import type { EndpointSliceSpec } from '../k8s/endpointslice.ts';
import type { PodSpec } from '../k8s/pod.ts';
import type { ServiceSpec } from '../k8s/service.ts';
import type { KvStore } from '../kvstore/store.ts';
import { isIp4 } from '../net/ip4.ts';
import { serviceName } from './allocate.ts';
import { backendAddress, BackendIndex } from './backends.ts';
import { desiredState, type DesiredState, type FrontendSpec, type LbWarning, type ServiceInput } from './desired.ts';
import { BackendIds, IdAllocator } from './ids.ts';
import { applyPlan, readMaps } from './lbmaps.ts';
import { buildState, planSize, planSync, type Built, type LbState } from './lbstate.ts';
import { tupleNum } from './keys.ts';
import { PROTO_NUMBER } from './lbstate.ts';
import { serviceView, type Programmed } from './view.ts';

/** Store prefixes the manager reads (see src/agent/objects.ts). */
const SLICES_PREFIX = ENDPOINTSLICES_PREFIX;
const PODS_PREFIX = 'pods/';
/** Operator backend states: `lb/backend-state/ADDR:PORT` → {state: 'maintenance', since}. */
export const BACKEND_STATE_PREFIX = 'lb/backend-state/';

export interface StoredBackendState {
  state: 'maintenance';
  since: string;
}

export interface ServiceManagerOptions {
  nodeName: string;
  /** NodePort address ('' = none: NodePorts are not served). */
  nodeIp: string;
  lbMode: 'snat' | 'dsr';
  maglevTableSize: number;
  store: KvStore;
  datapath: Datapath;
  endpoints: { list(): EndpointJSON[] };
  log: Logger;
}

export interface SyncStats {
  /** When the last sync ended. */
  at: string;
  /** Whole sync; of which computing the desired state and the plan, and writing the maps. */
  ms: number;
  computeMs: number;
  writeMs: number;
  /** CPU time of the agent process during the sync (all threads, user + system). */
  cpuMs: number;
  services: number;
  frontends: number;
  backends: number;
  /** Map entries written or deleted by the last sync. */
  writes: number;
  maglevTables: number;
}

export interface ServicesStatus {
  services: number;
  frontends: number;
  backends: number;
  lastSync?: SyncStats;
  /** The last sync's error, until a sync succeeds. */
  error?: string;
  warnings: string[];
}

interface Computed {
  inputs: Map<string, ServiceInput>;
  desired: DesiredState;
  built: Built;
  /** For the API, made on first use. */
  programmed?: Programmed;
}

const NO_FRONTENDS: readonly FrontendSpec[] = Object.freeze([]);

export class ServiceManager {
  readonly #o: ServiceManagerOptions;
  readonly #log: Logger;
  readonly #ids = { backends: new BackendIds(), revnat: new IdAllocator('rev-NAT', 1, MB_LB_REVNAT_MAX - 1) };
  #mirror: LbState;
  /** Kernel ids of the Maglev tables in the maps, by name. */
  readonly #tableIds = new Map<string, number>();
  #last: Computed | undefined;
  #stats: SyncStats | undefined;
  #error: string | undefined;
  #warned = new Set<string>();
  readonly #unwatch: Array<() => void> = [];
  #dirty = false;
  #running = false;
  #timer: NodeJS.Immediate | undefined;
  #retry: NodeJS.Timeout | undefined;
  #idle: Array<() => void> = [];
  #stopped = false;

  private constructor(o: ServiceManagerOptions, mirror: LbState) {
    this.#o = o;
    this.#log = o.log;
    this.#mirror = mirror;
  }

  /** Recovers ids from the pinned maps, reconciles them with the store, then follows the store. */
  static async start(o: ServiceManagerOptions): Promise<ServiceManager> {
    const snap = readMaps(o.datapath);
    const m = new ServiceManager(o, snap.state);
    const be = snap.state.backends;
    for (const id of snap.backendIds) m.#ids.backends.claim(be.addr[id]!, be.port[id]!, be.proto[id]!, id);
    for (const [key, id] of snap.revNatIds) m.#ids.revnat.claim(key, id);
    for (const [revNat, mapId] of snap.maglevMapIds) {
      const name = snap.state.maglev.get(revNat);
      if (name) m.#tableIds.set(name, mapId);
    }
    o.log.info('load balancer maps read', { frontends: snap.state.frontends.size, backends: snap.state.backends.size, maglevTables: snap.maglevMapIds.size });
    for (const prefix of [SERVICES_PREFIX, SLICES_PREFIX, PODS_PREFIX, BACKEND_STATE_PREFIX]) {
      m.#unwatch.push(o.store.watch(prefix, () => m.#schedule()));
    }
    m.#schedule();
    await m.settled();
    return m;
  }

  /** The endpoints on this node changed (created, deleted, relabelled). */
  endpointsChanged(): void {
    this.#schedule();
  }

  /** Resolves when every change seen so far is in the maps (or failed: see status().error). */
  settled(): Promise<void> {
    if (!this.#dirty && !this.#running && !this.#timer) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  list(): ServiceJSON[] {
    const last = this.#last;
    if (!last) return [];
    const byService = this.#frontendsByService(last);
    const warnings = this.#warningsByService(last);
    return [...last.inputs.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([name, input]) => serviceView(input.spec, input.ports, byService.get(name) ?? [], this.#programmed(last), this.#o.lbMode, warnings.get(name)));
  }

  /** Flow enrichment (src/observe/enrich.ts): the frontends of the last sync; a new array after every sync (a reader tells a change by identity). */
  get frontendsView(): readonly FrontendSpec[] {
    return this.#last?.desired.frontends ?? NO_FRONTENDS;
  }

  get(namespace: string, name: string): ServiceJSON | undefined {
    const last = this.#last;
    const key = `${namespace}/${name}`;
    const input = last?.inputs.get(key);
    if (!last || !input) return undefined;
    const frontends = last.desired.frontends.filter((f) => f.service === key);
    return serviceView(input.spec, input.ports, frontends, this.#programmed(last), this.#o.lbMode, this.#warningsByService(last).get(key));
  }

  #programmed(c: Computed): Programmed {
    if (!c.programmed) {
      const backendIds = new Map<number, number>();
      for (const b of c.desired.backends) backendIds.set(tupleNum(b.ip, b.port, PROTO_NUMBER[b.protocol]), b.id);
      c.programmed = { built: c.built, backendIds };
    }
    return c.programmed;
  }

  /** Marks a backend (every service's ADDR:PORT) for maintenance, or back to active. */
  async setBackendState(body: unknown): Promise<BackendStateResponse> {
    const req = body as Partial<BackendStateRequest> | undefined;
    const address = req?.address;
    const m = typeof address === 'string' ? /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(address) : null;
    if (!m || !isIp4(m[1]!) || Number(m[2]) < 1 || Number(m[2]) > 65535) {
      throw new InputError('address', `${JSON.stringify(address)} is not ADDR:PORT (an IPv4 address and a port 1-65535, e.g. 10.200.0.5:8080)`);
    }
    const state = req?.state;
    if (state !== 'active' && state !== 'maintenance') throw new InputError('state', `${JSON.stringify(state)} is not "active" or "maintenance"`);
    const services = this.#servicesWithBackend(address!);
    const key = `${BACKEND_STATE_PREFIX}${address}`;
    if (state === 'maintenance') {
      if (services.length === 0 && this.#o.store.get(key) === undefined) {
        throw new MembraneError('NOT_FOUND', `no service has the backend ${address} — see 'membrane service list' for the backends`);
      }
      if (this.#o.store.get(key) === undefined) {
        await this.#o.store.commit({ put: [[key, { state: 'maintenance', since: new Date().toISOString() } satisfies StoredBackendState]] });
      }
    } else {
      await this.#o.store.commit({ delete: [key] });
    }
    await this.settled();
    this.#log.info('backend state set', { backend: address, state, services });
    return { address: address!, state, services };
  }

  /** Backend marks set by the operator (ADDR:PORT → since). */
  backendStates(): Array<{ address: string; state: 'maintenance'; since: string }> {
    return this.#o.store.list<StoredBackendState>(BACKEND_STATE_PREFIX).map(([k, v]) => ({ address: k.slice(BACKEND_STATE_PREFIX.length), state: v.state, since: v.since }));
  }

  status(): ServicesStatus {
    const s: ServicesStatus = {
      services: this.#last?.inputs.size ?? 0,
      frontends: this.#last?.desired.frontends.length ?? 0,
      backends: this.#last?.desired.backends.length ?? 0,
      warnings: [...(this.#last?.desired.warnings ?? []), ...(this.#last?.built.warnings ?? [])].map(formatWarning),
    };
    if (this.#stats) s.lastSync = this.#stats;
    if (this.#error) s.error = this.#error;
    return s;
  }

  /** Stops following the store; the maps keep their entries (the datapath keeps serving). */
  async stop(): Promise<void> {
    for (const u of this.#unwatch.splice(0)) u();
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = undefined;
    await this.settled();
    this.#stopped = true;
  }

  /** One full sync, synchronously: compute, plan, write. Exposed for benchmarks and tests. */
  syncNow(): SyncStats {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const computed = this.#compute();
    const plan = planSync(this.#mirror, computed.built.state);
    const t1 = performance.now();
    // The API shows what is wanted even when writing it fails (status().error says so).
    this.#last = computed;
    let tables = 0;
    try {
      tables = applyPlan(this.#o.datapath, plan, computed.built.state, computed.built.tables, this.#o.maglevTableSize, this.#tableIds).tablesBuilt;
    } catch (err) {
      // What the maps hold is now unknown: read them back before the next try.
      try {
        this.#mirror = readMaps(this.#o.datapath).state;
      } catch (e) {
        this.#log.error('cannot read the load balancer maps back', { err: e as Error });
      }
      throw err;
    }
    this.#mirror = computed.built.state;
    const used = new Set(computed.built.state.maglev.values());
    for (const name of [...this.#tableIds.keys()]) if (!used.has(name)) this.#tableIds.delete(name);
    const t2 = performance.now();
    const cpu = process.cpuUsage(cpu0);
    const round = (ms: number) => Math.round(ms * 10) / 10;
    const stats: SyncStats = {
      at: new Date().toISOString(),
      ms: round(t2 - t0),
      computeMs: round(t1 - t0),
      writeMs: round(t2 - t1),
      cpuMs: round((cpu.user + cpu.system) / 1000),
      services: computed.inputs.size,
      frontends: computed.desired.frontends.length,
      backends: computed.desired.backends.length,
      writes: planSize(plan),
      maglevTables: tables,
    };
    this.#stats = stats;
    this.#logWarnings(computed);
    return stats;
  }

  #compute(): Computed {
    const { store } = this.#o;
    const services = store.list<ServiceSpec>(SERVICES_PREFIX).map(([, v]) => v);
    const slices = store.list<EndpointSliceSpec>(SLICES_PREFIX).map(([, v]) => v);
    const states = new Map<string, 'maintenance'>();
    for (const [k] of store.list<StoredBackendState>(BACKEND_STATE_PREFIX)) states.set(k.slice(BACKEND_STATE_PREFIX.length), 'maintenance');
    const index = new BackendIndex({
      nodeName: this.#o.nodeName,
      slices,
      endpoints: this.#o.endpoints.list(),
      pod: (ns, name) => store.get<PodSpec>(`${PODS_PREFIX}${ns}/${name}`),
      states,
    });
    const inputs = new Map<string, ServiceInput>();
    for (const spec of services) inputs.set(serviceName(spec), { spec, ports: index.forService(spec) });
    const desired = desiredState([...inputs.values()], { nodeIp: this.#o.nodeIp, lbMode: this.#o.lbMode });
    const built = buildState(desired, this.#ids, { maglevSize: this.#o.maglevTableSize, maglevMax: MB_LB_MAGLEV_MAX });
    return { inputs, desired, built };
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#dirty = true;
    if (!this.#running && !this.#timer) this.#timer = setImmediate(() => void this.#loop());
  }

  async #loop(): Promise<void> {
    this.#timer = undefined;
    this.#running = true;
    try {
      while (this.#dirty && !this.#stopped) {
        this.#dirty = false;
        try {
          const s = this.syncNow();
          if (this.#error) this.#log.info('load balancer in sync again');
          this.#error = undefined;
          this.#log.debug('load balancer synced', { ...s });
        } catch (err) {
          this.#error = errorMessage(err);
          this.#log.error('load balancer sync failed; retrying in 2 s', { err: err as Error });
          if (!this.#retry) {
            this.#retry = setTimeout(() => {
              this.#retry = undefined;
              this.#schedule();
            }, 2000);
            this.#retry.unref();
          }
        }
        // Let changes that arrive together coalesce into the next sync.
        if (this.#dirty) await new Promise((r) => setImmediate(r));
      }
    } finally {
      this.#running = false;
      for (const done of this.#idle.splice(0)) done();
    }
  }

  #frontendsByService(c: Computed) {
    const out = new Map<string, Computed['desired']['frontends']>();
    for (const f of c.desired.frontends) {
      let list = out.get(f.service);
      if (!list) out.set(f.service, (list = []));
      list.push(f);
    }
    return out;
  }

  #warningsByService(c: Computed): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const w of [...c.desired.warnings, ...c.built.warnings]) {
      if (!w.service) continue;
      let list = out.get(w.service);
      if (!list) out.set(w.service, (list = []));
      list.push(w.message);
    }
    return out;
  }

  #servicesWithBackend(address: string): string[] {
    const out: string[] = [];
    for (const [name, input] of this.#last?.inputs ?? []) {
      if (input.ports.some((p) => p.backends.some((b) => backendAddress(b) === address))) out.push(name);
    }
    return out;
  }

  #logWarnings(c: Computed): void {
    const now = new Set<string>();
    for (const w of [...c.desired.warnings, ...c.built.warnings]) {
      const text = formatWarning(w);
      now.add(text);
      if (!this.#warned.has(text)) this.#log.warn(text);
    }
    this.#warned = now;
  }
}

function formatWarning(w: LbWarning): string {
  return w.service ? `Service ${w.service}: ${w.message}` : w.message;
}
