// Prometheus metrics of the agent: the datapath's own counters (mb_metrics:
// every forwarded and dropped packet, also with events off), the flow
// pipeline's counters (Hubble's flow metrics), per-service traffic (flows
// and the per-packet LB conntrack), BPF map fill, and the agent process
// (prom-client's default metrics). Values are read from a MetricsSource at
// scrape time; nothing is counted on the hot path here.
//
// Families and their Cilium/Hubble counterparts (docs/observability.md):
//   membrane_flows_processed_total{type,subtype,verdict,protocol}   hubble_flows_processed_total
//   membrane_drop_count_total{reason,direction}                     cilium_drop_count_total
//   membrane_drop_bytes_total{reason,direction}                     cilium_drop_bytes_total
//   membrane_forward_count_total{direction}                         cilium_forward_count_total
//   membrane_forward_bytes_total{direction}                         cilium_forward_bytes_total
//   membrane_lost_events_total{source}                              hubble_lost_events_total
//   membrane_policy_verdicts_total{direction,match,action}          hubble_policy_verdicts_total
//   membrane_service_connections_total{namespace,service,backend}   (none; hubble_tcp_flags_total{flag="SYN"} by destination)
//   membrane_service_lb_packets_total{namespace,service,backend,direction}  (none; from the per-packet LB conntrack)
//   membrane_service_lb_bytes_total{namespace,service,backend,direction}    (none)
//   membrane_bpf_map_pressure{map_name}                             cilium_bpf_map_pressure
//   membrane_bpf_map_entries{map_name}                              (none; pressure × capacity)
//   membrane_bpf_map_capacity{map_name}                             cilium_bpf_map_capacity{map_group}
//   membrane_agent_*  (process CPU, memory, fds, event-loop lag, GC) cilium_process_* and go_*
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { listenHttp, type Listener } from '../net/listen-addr.ts';
import { DROP_REASONS, MB_CT_DIR_FWD, MB_DIR_EGRESS, MB_DIR_INGRESS, MB_METRIC_EVENT_LOST } from '../datapath/abi.ts';
import type { ServiceJSON } from '../agent/api-types.ts';
import type { Datapath } from '../datapath/datapath.ts';
import { errorMessage } from '../errors.ts';

/** The Content-Type of the text format (prom-client's Prometheus 0.0.4). */
export const METRICS_CONTENT_TYPE: string = Registry.PROMETHEUS_CONTENT_TYPE;

/** Label sets beyond this many in one family are folded into one `_other` series (bounded cardinality). */
export const MAX_SERIES_PER_FAMILY = 1000;
export const OTHER = '_other';

/** One entry of mb_metrics, summed over CPUs: reason 0 forwarded, 0xff lost events, others drops. */
export interface DatapathCounter {
  reason: number;
  /** MB_DIR_EGRESS 1, MB_DIR_INGRESS 2, 0 not known. */
  dir: number;
  packets: bigint;
  bytes: bigint;
}

/** One mb_ct4 entry (per-packet LB conntrack): each direction of a connection is its own entry. */
export interface LbConntrackEntry {
  /** Stable for the entry while it lives (its key as text). */
  id: string;
  /** MB_CT_DIR_FWD (client → frontend) or MB_CT_DIR_REV (backend → client or node). */
  dir: number;
  revNatId: number;
  backendId: number;
  packets: bigint;
  bytes: bigint;
}

/** A service's name. */
export interface ServiceName {
  namespace: string;
  name: string;
}

/** Names of the load balancer's ids, as programmed. */
export interface LbNames {
  /** rev NAT id (one frontend) → its service. */
  service(revNatId: number): ServiceName | undefined;
  /** backend id → `address:port`. */
  backend(backendId: number): string | undefined;
}

export interface Sample<L extends string> {
  labels: Record<L, string>;
  value: number;
}

/** A counter by label values (the flow pipeline's LabeledCounts). */
export interface LabeledCounts<L extends string> {
  /** [labels, value] of every combination seen; values only grow. */
  entries(): Iterable<[Record<L, string>, number]>;
}

/** The flow pipeline's counters (agent.flows.counters, src/observe/pipeline.ts). */
export interface FlowCounts {
  /** Hubble's flows_processed: type Trace|Drop|PolicyVerdict, subtype (trace point, e.g. to-endpoint; '' otherwise), verdict, protocol. */
  flows: LabeledCounts<'type' | 'subtype' | 'verdict' | 'protocol'>;
  /** Hubble's policy_verdicts: direction ingress|egress, match (l3-only, l3-l4, l4-only, all, none), action forwarded|dropped|audit. */
  policyVerdicts: LabeledCounts<'direction' | 'match' | 'action'>;
  /** New connections (first packet of a connection, not a reply) to a service, by service and backend (`ip:port`). */
  newConnections: LabeledCounts<'namespace' | 'service' | 'backend'>;
  /** Events lost before they became flows, by Hubble's LostEvent source (PERF_EVENT_RING_BUFFER is read from mb_metrics instead). */
  lostEvents: LabeledCounts<'source'>;
}

/** What the metrics read from the agent, at each scrape. */
export interface MetricsSource {
  /** mb_metrics summed over CPUs. */
  datapathCounters(): Iterable<DatapathCounter>;
  /** Entries and capacity of each BPF map. */
  mapFill(): Iterable<{ name: string; entries: number; maxEntries: number }>;
  /** The per-packet LB conntrack (mb_ct4). */
  lbConntrack(): Iterable<LbConntrackEntry>;
  /** Names of the LB ids (called once per scrape). */
  lbNames(): LbNames;
  /** The flow pipeline's counters; undefined when there is no pipeline. */
  flowCounts(): FlowCounts | undefined;
}

/** Hubble's LostEvent source of mb_metrics reason 0xff (the datapath's ring buffer was full). */
export const LOST_SOURCE_DATAPATH = 'PERF_EVENT_RING_BUFFER';

/** Cilium's direction label values. */
export function directionName(dir: number): string {
  return dir === MB_DIR_EGRESS ? 'EGRESS' : dir === MB_DIR_INGRESS ? 'INGRESS' : 'UNKNOWN';
}

/** Hubble's DropReason name of a Membrane drop code. */
export function dropReasonName(reason: number): string {
  return DROP_REASONS[reason] ?? `UNKNOWN_${reason}`;
}

/** Adds `value` under `labels` in `into`, folding new label sets beyond `cap` into one `_other` set. */
function add<L extends string>(into: Map<string, Sample<L>>, labels: Record<L, string>, value: number, cap = MAX_SERIES_PER_FAMILY): void {
  let key = JSON.stringify(labels);
  let s = into.get(key);
  if (!s && into.size >= cap) {
    const other = Object.fromEntries(Object.keys(labels).map((k) => [k, OTHER])) as Record<L, string>;
    key = JSON.stringify(other);
    s = into.get(key);
    labels = other;
  }
  if (s) s.value += value;
  else into.set(key, { labels: { ...labels }, value });
}

/**
 * Per-packet LB traffic as counters. mb_ct4 entries come and go (LRU, no
 * GC), so their sums are not monotonic: each scrape adds what every entry
 * gained since the previous scrape (all of it for an entry not seen before,
 * or one whose count went down, i.e. a new connection on the same tuple).
 * What an entry gained between its last scrape and its eviction is not
 * counted.
 */
type LbLabel = 'namespace' | 'service' | 'backend' | 'direction';

export class LbTraffic {
  #seen = new Map<string, { packets: bigint; bytes: bigint; backendId: number }>();
  readonly packets = new Map<string, Sample<LbLabel>>();
  readonly bytes = new Map<string, Sample<LbLabel>>();

  update(entries: Iterable<LbConntrackEntry>, names: LbNames): void {
    const next = new Map<string, { packets: bigint; bytes: bigint; backendId: number }>();
    for (const e of entries) {
      const id = `${e.dir}/${e.id}`;
      next.set(id, { packets: e.packets, bytes: e.bytes, backendId: e.backendId });
      const prev = this.#seen.get(id);
      const same = prev !== undefined && prev.backendId === e.backendId && prev.packets <= e.packets && prev.bytes <= e.bytes;
      const dp = same ? e.packets - prev.packets : e.packets;
      const db = same ? e.bytes - prev.bytes : e.bytes;
      if (dp === 0n && db === 0n && prev !== undefined) continue;
      const svc = names.service(e.revNatId);
      const labels = {
        namespace: svc?.namespace ?? '',
        service: svc?.name ?? 'unknown',
        backend: names.backend(e.backendId) ?? 'unknown',
        direction: e.dir === MB_CT_DIR_FWD ? 'original' : 'reply',
      };
      add(this.packets, labels, Number(dp));
      add(this.bytes, labels, Number(db));
    }
    this.#seen = next;
  }
}

/** The datapath counters by family. */
export function datapathFamilies(counters: Iterable<DatapathCounter>): {
  dropCount: Map<string, Sample<'reason' | 'direction'>>;
  dropBytes: Map<string, Sample<'reason' | 'direction'>>;
  forwardCount: Map<string, Sample<'direction'>>;
  forwardBytes: Map<string, Sample<'direction'>>;
  lost: number;
} {
  const out = { dropCount: new Map(), dropBytes: new Map(), forwardCount: new Map(), forwardBytes: new Map(), lost: 0 };
  for (const c of counters) {
    if (c.reason === 0) {
      add(out.forwardCount, { direction: directionName(c.dir) }, Number(c.packets));
      add(out.forwardBytes, { direction: directionName(c.dir) }, Number(c.bytes));
    } else if (c.reason === MB_METRIC_EVENT_LOST) {
      out.lost += Number(c.packets);
    } else {
      const labels = { reason: dropReasonName(c.reason), direction: directionName(c.dir) };
      add(out.dropCount, labels, Number(c.packets));
      add(out.dropBytes, labels, Number(c.bytes));
    }
  }
  return out;
}

type Family = Counter<string> | Gauge<string>;

/** One source's registry: its families, default metrics and LB accounting. */
class SourceMetrics {
  readonly registry = new Registry();
  readonly #source: MetricsSource;
  readonly #lb = new LbTraffic();
  readonly #f: Record<string, Family>;

  constructor(source: MetricsSource) {
    this.#source = source;
    const r = [this.registry];
    const counter = (name: string, help: string, labelNames: string[]) => new Counter({ name, help, labelNames, registers: r });
    const gauge = (name: string, help: string, labelNames: string[]) => new Gauge({ name, help, labelNames, registers: r });
    this.#f = {
      flows: counter('membrane_flows_processed_total', 'Flows processed by the flow pipeline, by event type, subtype, verdict and protocol (hubble_flows_processed_total)', ['type', 'subtype', 'verdict', 'protocol']),
      dropCount: counter('membrane_drop_count_total', 'Packets dropped by the datapath, by reason and direction; every drop, also with drop events off (cilium_drop_count_total)', ['reason', 'direction']),
      dropBytes: counter('membrane_drop_bytes_total', 'Bytes dropped by the datapath, by reason and direction (cilium_drop_bytes_total)', ['reason', 'direction']),
      forwardCount: counter('membrane_forward_count_total', 'Packets forwarded by the datapath, by direction (cilium_forward_count_total)', ['direction']),
      forwardBytes: counter('membrane_forward_bytes_total', 'Bytes forwarded by the datapath, by direction (cilium_forward_bytes_total)', ['direction']),
      lost: counter('membrane_lost_events_total', 'Events lost before they became flows, by source: PERF_EVENT_RING_BUFFER (datapath ring buffer full), HUBBLE_RING_BUFFER (a flow client too slow) (hubble_lost_events_total)', ['source']),
      policy: counter('membrane_policy_verdicts_total', 'Policy verdicts, by traffic direction, match type and action (hubble_policy_verdicts_total)', ['direction', 'match', 'action']),
      svcConns: counter('membrane_service_connections_total', 'New connections to a service seen in flows (first packet, not a reply), by service namespace, name and backend address:port', ['namespace', 'service', 'backend']),
      lbPackets: counter('membrane_service_lb_packets_total', 'Packets of per-packet load-balanced connections (NodePort, LoadBalancer, externalIPs; mb_ct4), by service, backend and direction (original, reply)', ['namespace', 'service', 'backend', 'direction']),
      lbBytes: counter('membrane_service_lb_bytes_total', 'Bytes of per-packet load-balanced connections (mb_ct4), by service, backend and direction (original, reply)', ['namespace', 'service', 'backend', 'direction']),
      mapPressure: gauge('membrane_bpf_map_pressure', 'Fill of a BPF map, entries / capacity, 0..1 (cilium_bpf_map_pressure)', ['map_name']),
      mapEntries: gauge('membrane_bpf_map_entries', 'Entries in a BPF map', ['map_name']),
      mapCapacity: gauge('membrane_bpf_map_capacity', 'Maximum entries of a BPF map (cilium_bpf_map_capacity)', ['map_name']),
    };
    collectDefaultMetrics({ register: this.registry, prefix: 'membrane_agent_' });
  }

  /** Reads the source and sets every family (synchronous: concurrent scrapes never see a half-set family). */
  #refresh(): void {
    const s = this.#source;
    const dp = datapathFamilies(s.datapathCounters());
    const flows = s.flowCounts();
    const lost = new Map<string, Sample<'source'>>();
    add(lost, { source: LOST_SOURCE_DATAPATH }, dp.lost);
    for (const [labels, value] of flows?.lostEvents.entries() ?? []) {
      // The datapath's losses come from mb_metrics itself (complete, and kept across agent restarts).
      if (labels.source !== LOST_SOURCE_DATAPATH) add(lost, labels, value);
    }
    this.#lb.update(s.lbConntrack(), s.lbNames());
    const fill = [...s.mapFill()];

    const counters: Array<[Family, Iterable<Sample<string>>]> = [
      [this.#f.dropCount!, dp.dropCount.values()],
      [this.#f.dropBytes!, dp.dropBytes.values()],
      [this.#f.forwardCount!, dp.forwardCount.values()],
      [this.#f.forwardBytes!, dp.forwardBytes.values()],
      [this.#f.lost!, lost.values()],
      [this.#f.flows!, bounded(flows?.flows)],
      [this.#f.policy!, bounded(flows?.policyVerdicts)],
      [this.#f.svcConns!, bounded(flows?.newConnections)],
      [this.#f.lbPackets!, this.#lb.packets.values()],
      [this.#f.lbBytes!, this.#lb.bytes.values()],
    ];
    for (const [family, samples] of counters) {
      const c = family as Counter<string>;
      c.reset();
      for (const x of samples) c.inc(x.labels, x.value);
    }
    const gauges: Array<[string, (m: { entries: number; maxEntries: number }) => number]> = [
      ['mapPressure', (m) => (m.maxEntries > 0 ? m.entries / m.maxEntries : 0)],
      ['mapEntries', (m) => m.entries],
      ['mapCapacity', (m) => m.maxEntries],
    ];
    for (const [name, value] of gauges) {
      const g = this.#f[name] as Gauge<string>;
      g.reset();
      for (const m of fill) g.set({ map_name: m.name }, value(m));
    }
  }

  async render(): Promise<string> {
    this.#refresh();
    return this.registry.metrics();
  }
}

/** Sums samples with the same labels, folding label sets beyond the cap. */
function bounded<L extends string>(counts: LabeledCounts<L> | undefined): Iterable<Sample<L>> {
  const m = new Map<string, Sample<L>>();
  for (const [labels, value] of counts?.entries() ?? []) add(m, labels, value);
  return m.values();
}

const perSource = new WeakMap<MetricsSource, SourceMetrics>();

function metricsOf(source: MetricsSource): SourceMetrics {
  let m = perSource.get(source);
  if (!m) {
    m = new SourceMetrics(source);
    perSource.set(source, m);
  }
  return m;
}

/** The source's metrics in the Prometheus text format (Content-Type: METRICS_CONTENT_TYPE). */
export function renderMetrics(source: MetricsSource): Promise<string> {
  return metricsOf(source).render();
}

export type MetricsServer = Listener;

/** Serves GET /metrics on HOST:PORT (port 0: any free port); every other path is 404. */
export function startMetricsServer(source: MetricsSource, addr: string): Promise<MetricsServer> {
  return listenHttp('--prometheus-serve-addr', addr, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(path === '/metrics' ? `${req.method} is not supported on /metrics: use GET\n` : 'not found: metrics are at /metrics\n');
      return;
    }
    renderMetrics(source).then(
      (text) => {
        res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`metrics failed: ${errorMessage(err)}\n`);
      },
    );
  }, "give another HOST:PORT, or '' to turn metrics off");
}

/** What agentMetricsSource reads of the agent (a structural part of Agent, src/agent/daemon.ts). */
export interface MetricsAgent {
  readonly datapath: Pick<Datapath, 'metrics' | 'conntrack' | 'mapFill'>;
  readonly services: { list(): ServiceJSON[] };
  /** The flow pipeline (absent: no flow families). */
  readonly flows?: { readonly counters: FlowCounts } | undefined;
}

/** The metrics source of a running agent. */
export function agentMetricsSource(agent: MetricsAgent): MetricsSource {
  return {
    *datapathCounters() {
      for (const [k, perCpu] of agent.datapath.metrics.entriesPerCpu()) {
        let packets = 0n;
        let bytes = 0n;
        for (const v of perCpu) {
          packets += v.packets;
          bytes += v.bytes;
        }
        yield { reason: k.reason, dir: k.dir, packets, bytes };
      }
    },
    mapFill: () => agent.datapath.mapFill(),
    *lbConntrack() {
      for (const [k, v] of agent.datapath.conntrack.entries()) {
        yield { id: `${k.saddr}:${k.sport}>${k.daddr}:${k.dport}/${k.proto}`, dir: k.dir, revNatId: v.rev_nat_id, backendId: v.backend_id, packets: v.packets, bytes: v.bytes };
      }
    },
    lbNames() {
      const services = new Map<number, ServiceName>();
      const backends = new Map<number, string>();
      for (const svc of agent.services.list()) {
        for (const f of svc.frontends) if (f.revNatId) services.set(f.revNatId, { namespace: svc.namespace, name: svc.name });
        for (const p of svc.ports) for (const b of p.backends) if (b.backendId !== undefined) backends.set(b.backendId, `${b.address}:${b.port}`);
      }
      return { service: (id) => services.get(id), backend: (id) => backends.get(id) };
    },
    flowCounts: () => agent.flows?.counters,
  };
}
