// The node's datapath: Membrane's eBPF objects loaded once per agent start,
// their maps pinned so they outlive the agent, and the attach points that
// use them. This is the one owner of the loaded objects and their fds.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { endpointInfo, endpointKey, metricsKey, metricsValue, type EndpointInfo, type EndpointKey, type MetricsKey, type MetricsValue } from './abi.ts';
import { BpfMap, mapInfo, type MapInfo } from './map.ts';
import { loadObject, programInfo, type LoadedObject } from './object.ts';
import { tcAttach, tcDetach, tcQuery } from './tc.ts';

export const DEFAULT_PIN_DIR = '/sys/fs/bpf/membrane';
/** Where `make build` puts the compiled objects. */
export const DEFAULT_BPF_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../build/bpf');

export const PINNED_MAPS = ['mb_lxc', 'mb_metrics', 'mb_events'] as const;

export interface DatapathConfig {
  pinDir: string;
  bpfDir: string;
}

export interface MapFill {
  name: string;
  entries: number;
  maxEntries: number;
}

export class Datapath {
  readonly config: DatapathConfig;
  readonly endpoints: BpfMap<EndpointKey, EndpointInfo>;
  readonly metrics: BpfMap<MetricsKey, MetricsValue>;
  readonly eventsFd: number;
  readonly #lxc: LoadedObject;
  readonly #fromEndpointFd: number;
  readonly #fromEndpointId: number;

  private constructor(config: DatapathConfig, lxc: LoadedObject) {
    this.config = config;
    this.#lxc = lxc;
    this.endpoints = new BpfMap(lxc.mapFd('mb_lxc'), 'mb_lxc', endpointKey, endpointInfo);
    this.metrics = new BpfMap(lxc.mapFd('mb_metrics'), 'mb_metrics', metricsKey, metricsValue, { perCpu: true });
    this.eventsFd = lxc.mapFd('mb_events');
    this.#fromEndpointFd = lxc.programFd('from_endpoint');
    this.#fromEndpointId = programInfo(this.#fromEndpointFd).id;
  }

  /** Loads the objects; pinned maps from an earlier run are reused, not flushed. */
  static load(config: DatapathConfig): Datapath {
    const lxc = loadObject({ file: path.join(config.bpfDir, 'bpf_lxc.o'), pinDir: config.pinDir, pin: PINNED_MAPS });
    return new Datapath(config, lxc);
  }

  /** Attaches (or atomically replaces) from-endpoint on a host-side veth. */
  attachEndpoint(ifindex: number): void {
    tcAttach(ifindex, 'ingress', this.#fromEndpointFd);
  }

  detachEndpoint(ifindex: number): void {
    tcDetach(ifindex, 'ingress');
  }

  /** True when this load's from-endpoint program is the one attached. */
  endpointProgramCurrent(ifindex: number): boolean {
    return tcQuery(ifindex, 'ingress') === this.#fromEndpointId;
  }

  mapFill(): MapFill[] {
    const fill: MapFill[] = [];
    for (const m of [this.endpoints, this.metrics]) {
      const info: MapInfo = m.info();
      fill.push({ name: m.name, entries: m.count(), maxEntries: info.maxEntries });
    }
    return fill;
  }

  eventsInfo(): MapInfo {
    return mapInfo(this.eventsFd);
  }

  close(): void {
    this.#lxc.close();
  }
}
