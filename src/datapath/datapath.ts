// The node's datapath: Membrane's eBPF objects loaded once per agent start,
// their maps pinned so they outlive the agent, and the attach points that
// use them. This is the one owner of the loaded objects and their fds.
//
// Every object includes the same map definitions (bpf/include/maps.h) and
// pins them all by name, so the first object to load creates a map and the
// others reuse it: the programs share one set of maps.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  agg4Entry, agg4Key, ct4Entry, ct4Key, endpointInfo, ipcacheEntry, ipcacheKey, pct4Entry, pct4Key, policyEntry, policyKey, endpointKey, lb4Affinity, lb4AffinityKey, lb4Backend, lb4BackendKey, lb4Key, lb4Revnat,
  lb4RevnatKey, lb4Service, metricsKey, metricsValue, nodeConfig, sock4Revnat, sock4RevnatKey, u32Key,
  type Ct4Entry, type Ct4Key, type EndpointInfo, type EndpointKey, type Lb4Affinity, type Lb4AffinityKey, type Lb4Backend,
  type Lb4BackendKey, type Lb4Key, type Lb4Revnat, type Lb4RevnatKey, type Lb4Service, type MetricsKey, type MetricsValue,
  type NodeConfig, type Sock4Revnat, type Sock4RevnatKey, type U32Key, type IpcacheEntry, type IpcacheKey, type Pct4Entry,
  type Pct4Key, type PolicyEntry, type PolicyKey, type Agg4Entry, type Agg4Key,
} from './abi.ts';
import { cgroupLinkEnsure, cgroupLinkRemove, CGROUP_ATTACH, type CgroupHook } from './cgroup.ts';
import { lib } from './libbpf.ts';
import { BpfMap, mapInfo, type MapInfo } from './map.ts';
import { loadObject, programInfo, type LoadedObject } from './object.ts';
import { tcAttach, tcDetach, tcQuery } from './tc.ts';
import { xdpAttach, xdpDetach, xdpQuery, type XdpMode } from './xdp.ts';

export const DEFAULT_PIN_DIR = '/sys/fs/bpf/membrane';
/** Where `make build` puts the compiled objects. */
export const DEFAULT_BPF_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../build/bpf');

export const PINNED_MAPS = [
  'mb_lxc', 'mb_metrics', 'mb_events',
  'mb_lb4_svc', 'mb_lb4_backend', 'mb_lb4_revnat', 'mb_lb4_maglev', 'mb_lb4_affinity', 'mb_sock4_revnat', 'mb_ct4', 'mb_config',
  'mb_ipcache', 'mb_policy', 'mb_pct4', 'mb_agg4',
] as const;

/** Socket-LB programs of bpf_sock.o, by cgroup hook. */
const SOCK_PROGRAMS: Record<CgroupHook, string> = {
  connect4: 'sock4_connect',
  sendmsg4: 'sock4_sendmsg',
  recvmsg4: 'sock4_recvmsg',
  getpeername4: 'sock4_getpeername',
};

export interface DatapathConfig {
  pinDir: string;
  bpfDir: string;
}

export interface MapFill {
  name: string;
  entries: number;
  maxEntries: number;
}

/** How the node's devices load-balance external traffic. */
export type DeviceMode = 'tc' | 'xdp';

export class Datapath {
  readonly config: DatapathConfig;
  readonly endpoints: BpfMap<EndpointKey, EndpointInfo>;
  readonly metrics: BpfMap<MetricsKey, MetricsValue>;
  readonly lbServices: BpfMap<Lb4Key, Lb4Service>;
  readonly lbBackends: BpfMap<Lb4BackendKey, Lb4Backend>;
  readonly lbRevnat: BpfMap<Lb4RevnatKey, Lb4Revnat>;
  readonly lbAffinity: BpfMap<Lb4AffinityKey, Lb4Affinity>;
  readonly sockRevnat: BpfMap<Sock4RevnatKey, Sock4Revnat>;
  readonly conntrack: BpfMap<Ct4Key, Ct4Entry>;
  readonly nodeConfig: BpfMap<U32Key, NodeConfig>;
  /** IP prefix → security identity (LPM); written by the policy manager. */
  readonly ipcache: BpfMap<IpcacheKey, IpcacheEntry>;
  /** (endpoint, direction, identity, protocol, port prefix) → allow/deny (LPM); written by the policy manager. */
  readonly policy: BpfMap<PolicyKey, PolicyEntry>;
  /** Connections that policy allowed (LRU); written by the datapath. */
  readonly policyConntrack: BpfMap<Pct4Key, Pct4Entry>;
  /** Trace aggregation state per connection (LRU); written by the datapath. */
  readonly aggregation: BpfMap<Agg4Key, Agg4Entry>;
  /** Outer map of the Maglev tables (hash of maps: rev_nat_id -> array fd). */
  readonly maglevFd: number;
  readonly eventsFd: number;
  readonly #objects: LoadedObject[];
  readonly #sock: LoadedObject;
  readonly #host: LoadedObject;
  readonly #xdp: LoadedObject;
  readonly #fromEndpointFd: number;
  readonly #fromEndpointId: number;
  readonly #toEndpointFd: number;
  readonly #toEndpointId: number;

  private constructor(config: DatapathConfig, objects: { lxc: LoadedObject; sock: LoadedObject; host: LoadedObject; xdp: LoadedObject }) {
    this.config = config;
    const { lxc } = objects;
    this.#sock = objects.sock;
    this.#host = objects.host;
    this.#xdp = objects.xdp;
    this.#objects = [lxc, objects.sock, objects.host, objects.xdp];
    this.endpoints = new BpfMap(lxc.mapFd('mb_lxc'), 'mb_lxc', endpointKey, endpointInfo);
    this.metrics = new BpfMap(lxc.mapFd('mb_metrics'), 'mb_metrics', metricsKey, metricsValue, { perCpu: true });
    this.lbServices = new BpfMap(lxc.mapFd('mb_lb4_svc'), 'mb_lb4_svc', lb4Key, lb4Service);
    this.lbBackends = new BpfMap(lxc.mapFd('mb_lb4_backend'), 'mb_lb4_backend', lb4BackendKey, lb4Backend);
    this.lbRevnat = new BpfMap(lxc.mapFd('mb_lb4_revnat'), 'mb_lb4_revnat', lb4RevnatKey, lb4Revnat);
    this.lbAffinity = new BpfMap(lxc.mapFd('mb_lb4_affinity'), 'mb_lb4_affinity', lb4AffinityKey, lb4Affinity);
    this.sockRevnat = new BpfMap(lxc.mapFd('mb_sock4_revnat'), 'mb_sock4_revnat', sock4RevnatKey, sock4Revnat);
    this.conntrack = new BpfMap(lxc.mapFd('mb_ct4'), 'mb_ct4', ct4Key, ct4Entry);
    this.nodeConfig = new BpfMap(lxc.mapFd('mb_config'), 'mb_config', u32Key, nodeConfig);
    this.ipcache = new BpfMap(lxc.mapFd('mb_ipcache'), 'mb_ipcache', ipcacheKey, ipcacheEntry);
    this.policy = new BpfMap(lxc.mapFd('mb_policy'), 'mb_policy', policyKey, policyEntry);
    this.policyConntrack = new BpfMap(lxc.mapFd('mb_pct4'), 'mb_pct4', pct4Key, pct4Entry);
    this.aggregation = new BpfMap(lxc.mapFd('mb_agg4'), 'mb_agg4', agg4Key, agg4Entry);
    this.maglevFd = lxc.mapFd('mb_lb4_maglev');
    this.eventsFd = lxc.mapFd('mb_events');
    this.#fromEndpointFd = lxc.programFd('from_endpoint');
    this.#fromEndpointId = programInfo(this.#fromEndpointFd).id;
    this.#toEndpointFd = lxc.programFd('to_endpoint');
    this.#toEndpointId = programInfo(this.#toEndpointFd).id;
  }

  /** Loads the objects; pinned maps from an earlier run are reused, not flushed. */
  static load(config: DatapathConfig): Datapath {
    const loaded: LoadedObject[] = [];
    const load = (name: string) => {
      const o = loadObject({ file: path.join(config.bpfDir, `${name}.o`), pinDir: config.pinDir, pin: PINNED_MAPS });
      loaded.push(o);
      return o;
    };
    try {
      return new Datapath(config, { lxc: load('bpf_lxc'), sock: load('bpf_sock'), host: load('bpf_host'), xdp: load('bpf_xdp') });
    } catch (err) {
      for (const o of loaded) o.close();
      throw err;
    }
  }

  /**
   * Attaches (or atomically replaces) the endpoint programs on a host-side
   * veth: from-endpoint at tc ingress (what the pod sends) and to-endpoint at
   * tc egress (what the node's stack delivers to the pod: its ingress policy).
   * to-endpoint goes first, so that a pod never has from-endpoint's policy
   * without the other half.
   */
  attachEndpoint(ifindex: number): void {
    tcAttach(ifindex, 'egress', this.#toEndpointFd);
    tcAttach(ifindex, 'ingress', this.#fromEndpointFd);
  }

  detachEndpoint(ifindex: number): void {
    tcDetach(ifindex, 'ingress');
    tcDetach(ifindex, 'egress');
  }

  /** True when both endpoint programs on the veth are this load's. */
  endpointProgramCurrent(ifindex: number): boolean {
    return tcQuery(ifindex, 'ingress') === this.#fromEndpointId && tcQuery(ifindex, 'egress') === this.#toEndpointId;
  }

  /** Where the socket-LB links are pinned. */
  linkPin(hook: CgroupHook): string {
    return path.join(this.config.pinDir, 'links', `sock_${hook}`);
  }

  /**
   * Socket LB on a cgroup-v2 directory (default: the root, i.e. every
   * process). Links are pinned: an agent restart swaps programs in place.
   */
  attachSocketLb(cgroupPath: string): void {
    for (const hook of Object.keys(CGROUP_ATTACH) as CgroupHook[]) {
      cgroupLinkEnsure(cgroupPath, hook, this.#sock.programFd(SOCK_PROGRAMS[hook]), this.linkPin(hook));
    }
  }

  detachSocketLb(): void {
    for (const hook of Object.keys(CGROUP_ATTACH) as CgroupHook[]) cgroupLinkRemove(this.linkPin(hook));
  }

  /**
   * Per-packet LB for traffic arriving on a node device: always the tc
   * program (it also reverse-translates replies), plus the XDP program in
   * 'xdp' mode, which handles the same frontends earlier.
   */
  attachDevice(ifindex: number, mode: DeviceMode, xdpMode: XdpMode = 'auto'): void {
    tcAttach(ifindex, 'ingress', this.#host.programFd('from_netdev'));
    if (mode === 'xdp') xdpAttach(ifindex, this.#xdp.programFd('xdp_entry'), xdpMode);
    else if (ownsXdp(ifindex)) xdpDetach(ifindex);
  }

  detachDevice(ifindex: number): void {
    tcDetach(ifindex, 'ingress');
    if (ownsXdp(ifindex)) xdpDetach(ifindex);
  }

  writeNodeConfig(cfg: NodeConfig): void {
    this.nodeConfig.update({ key: 0 }, cfg);
  }

  mapFill(): MapFill[] {
    const fill: MapFill[] = [];
    for (const m of [this.endpoints, this.metrics, this.lbServices, this.lbBackends, this.lbRevnat, this.lbAffinity, this.sockRevnat, this.conntrack, this.ipcache, this.policy, this.policyConntrack, this.aggregation]) {
      const info: MapInfo = m.info();
      fill.push({ name: m.name, entries: m.count(), maxEntries: info.maxEntries });
    }
    return fill;
  }

  eventsInfo(): MapInfo {
    return mapInfo(this.eventsFd);
  }

  close(): void {
    for (const o of this.#objects) o.close();
  }
}

/** True when the device's XDP program is Membrane's (from any load: the kernel keeps the name). */
function ownsXdp(ifindex: number): boolean {
  const id = xdpQuery(ifindex);
  if (id === 0) return false;
  const fd = lib().bpf.bpf_prog_get_fd_by_id(id) as number;
  if (fd < 0) return false;
  try {
    return programInfo(fd).name === 'xdp_entry';
  } finally {
    lib().libc.close(fd);
  }
}
