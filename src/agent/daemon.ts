// The node agent: probes the kernel, loads the datapath (reusing pinned
// maps), reconciles endpoints, serves the API on its unix socket, and reads
// datapath events. Shutdown closes fds and the socket but leaves the
// datapath running: pods keep their traffic while no agent is there.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Datapath } from '../datapath/datapath.ts';
import { setLibbpfLogSink } from '../datapath/libbpf.ts';
import { isBpffs, probeFeatures, requireFeatures, type Feature } from '../datapath/probes.ts';
import { RingBufferReader } from '../datapath/ringbuf.ts';
import { Ipam } from '../endpoint/ipam.ts';
import { EndpointManager } from '../endpoint/manager.ts';
import { ensureNodeNetwork, nodeNetworkSpec, resolveDevices, type NodeDevice } from '../endpoint/node-network.ts';
import { run } from '../endpoint/exec.ts';
import { AGGREGATION_LEVELS, MB_CFG_F_NO_DROP, MB_CFG_F_NO_POLICY, MB_CFG_F_NO_TRACE, MB_ID_INIT, MB_METRIC_EVENT_LOST } from '../datapath/abi.ts';
import { LocalStore } from '../kvstore/local.ts';
import { agentEnricher } from '../observe/enrich.ts';
import { EventLog } from '../observe/events.ts';
import { FlowPipeline } from '../observe/pipeline.ts';
import { agentMetricsSource, startMetricsServer, type MetricsSource } from '../observe/metrics.ts';
import { startUiServer, uiHandler, type UiHandler } from '../ui/server.ts';
import { ServiceManager } from '../service/manager.ts';
import { PolicyManager, policyConfigFlags } from '../policy/manager.ts';
import { buildApi } from './api.ts';
import type { AgentConfig } from './config.ts';
import { createLogger, type Logger } from './log.ts';
import { podKey, type StoredPod } from './objects.ts';

export interface Agent {
  readonly config: AgentConfig;
  readonly features: Feature[];
  readonly startedAt: Date;
  readonly datapath: Datapath;
  readonly endpoints: EndpointManager;
  readonly store: LocalStore;
  /** GET /v1/events: the last datapath events (fed by `flows`, from the same decode). */
  readonly events: EventLog;
  /** Flows: decoded, enriched events in a ring of --flow-buffer-size, live subscribers, counters (src/observe/pipeline.ts). */
  readonly flows: FlowPipeline;
  /** What /metrics reads (one object: counters that accumulate across scrapes live in it). */
  readonly metrics: MetricsSource;
  /** The web UI's request handler (mounted under /ui/ on the socket, and on --ui-serve-addr). */
  readonly ui: UiHandler;
  /** Where the loopback listeners are: HOST:PORT, '' when off. */
  readonly listeners: { metrics: string; ui: string };
  readonly ipam: Ipam;
  readonly log: Logger;
  /** The node devices with the per-packet LB, and the NodePort/SNAT address ('' when none). */
  readonly lb: { devices: NodeDevice[]; nodeIp: string };
  /** Services → load balancer maps (src/service/manager.ts). */
  readonly services: ServiceManager;
  /** Namespaces, pods, policies and endpoints → identities, ipcache and policy maps (src/policy/manager.ts). */
  readonly policy: PolicyManager;
  stop(): Promise<void>;
}

/** SNAT ports for external traffic: above the default ephemeral range (32768-60999), so they never meet the node's own sockets. */
export const SNAT_PORTS = { min: 61000, max: 65535 } as const;

/** mb_config flags that turn event kinds off. */
export function eventConfigFlags(e: AgentConfig['bpfEvents']): number {
  return (e.trace ? 0 : MB_CFG_F_NO_TRACE) | (e.drop ? 0 : MB_CFG_F_NO_DROP) | (e.policyVerdict ? 0 : MB_CFG_F_NO_POLICY);
}

/**
 * The service datapath's attach points: socket LB on the cgroup, tc (and
 * XDP) on the node devices, and the node facts the programs read.
 */
async function attachLoadBalancer(config: AgentConfig, datapath: Datapath, log: Logger): Promise<{ devices: NodeDevice[]; nodeIp: string }> {
  const devices = await resolveDevices(config.devices);
  const nodeIp = config.nodeIp || devices[0]?.ipv4[0] || '';
  const mode = config.lbAcceleration === 'xdp' ? 'xdp' : 'tc';
  for (const d of devices) datapath.attachDevice(d.ifindex, mode);
  datapath.attachSocketLb(config.cgroupRoot);
  datapath.writeNodeConfig({
    node_ip4: nodeIp || '0.0.0.0',
    maglev_size: config.maglevTableSize,
    snat_port_min: SNAT_PORTS.min,
    snat_port_max: SNAT_PORTS.max,
    flags: policyConfigFlags({ auditMode: config.policyAuditMode, allowLocalhost: config.allowLocalhost }) | eventConfigFlags(config.bpfEvents),
    aggregation: AGGREGATION_LEVELS.indexOf(config.monitorAggregation),
    agg_interval_s: config.monitorAggregationInterval,
  });
  if (devices.length === 0) log.warn('no device for external traffic (no --devices and no default route): NodePort, LoadBalancer and externalIPs are served to this node and its pods only');
  log.info('load balancer attached', { devices: devices.map((d) => d.name), nodeIp, acceleration: config.lbAcceleration, mode: config.lbMode, cgroup: config.cgroupRoot });
  return { devices, nodeIp };
}

export async function startAgent(config: AgentConfig, log: Logger = createLogger({ level: config.logLevel })): Promise<Agent> {
  const startedAt = new Date();
  setLibbpfLogSink((level, line) => {
    const msg = line.trimEnd().replace(/^libbpf: /, '');
    if (level === 'warn') log.warn(msg, { component: 'libbpf' });
    else log.debug(msg, { component: 'libbpf' });
  });
  await mountBpffs(config.pinDir, log);
  const features = probeFeatures(config.pinDir);
  requireFeatures(features);

  const ipam = new Ipam(config.podCidr);
  fs.mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  const store = new LocalStore(path.join(config.stateDir, 'store.json'));
  const datapath = Datapath.load({ pinDir: config.pinDir, bpfDir: config.bpfDir });
  await ensureNodeNetwork(nodeNetworkSpec(ipam, config.masquerade));
  const lb = await attachLoadBalancer(config, datapath, log);

  // The policy manager gives each new endpoint its identity and policy before
  // the endpoint's map entry exists; it starts after the endpoints (it reads them).
  let policy: PolicyManager | undefined;
  const endpoints = await EndpointManager.restore({
    stateDir: config.stateDir,
    ipam,
    datapath,
    log: log.child({ component: 'endpoints' }),
    mtu: config.mtu,
    podLabels: (ns, name) => store.get<StoredPod>(podKey(ns, name))?.labels,
    policyState: (ep) => (policy ? policy.stateFor(ep) : { identity: MB_ID_INIT, flags: 0 }),
  });
  // Pod label changes reach their endpoints.
  const unwatch = store.watch('pods/', (ev) => {
    const [, ns, name] = ev.key.split('/');
    if (!ns || !name) return;
    const labels = ev.type === 'put' ? ((ev.value as StoredPod).labels ?? {}) : {};
    void endpoints.relabel(ns, name, labels);
  });

  // [services] Services, EndpointSlices, Pods and endpoints → mb_lb4_* maps (reconciled with what they hold).
  const services = await ServiceManager.start({
    nodeName: config.nodeName,
    nodeIp: lb.nodeIp,
    lbMode: config.lbMode,
    maglevTableSize: config.maglevTableSize,
    store,
    datapath,
    endpoints,
    log: log.child({ component: 'services' }),
  });

  // [policy] identities, ipcache and policy maps; enforcement flags in the endpoint entries.
  policy = await PolicyManager.start({
    store,
    datapath,
    endpoints,
    log: log.child({ component: 'policy' }),
    auditMode: config.policyAuditMode,
    allowLocalhost: config.allowLocalhost,
  });

  // [observe] ring buffer → flows (enriched from the managers above) → flow ring, /v1/events, subscribers.
  const events = new EventLog();
  const flows = new FlowPipeline({
    nodeName: config.nodeName,
    capacity: config.flowBufferSize,
    enricher: agentEnricher({ endpoints, policy, services, lb }),
    events,
  });
  if (config.logLevel === 'debug') {
    flows.subscribe((rec) => {
      if ('flow' in rec && rec.flow.event_type.type === 1) log.debug('datapath drop', { reason: rec.flow.drop_reason_desc, src: rec.flow.IP.source, dst: rec.flow.IP.destination, summary: rec.flow.Summary });
    });
  }
  const reader = new RingBufferReader(datapath.eventsFd, (buf) => flows.handleRecord(buf), {
    onError: (err) => log.error('bad datapath event', { err: err as Error }),
  });
  flows.startLostPoll(
    () => {
      let lost = 0n;
      for (const [k, perCpu] of datapath.metrics.entriesPerCpu()) if (k.reason === MB_METRIC_EVENT_LOST) for (const v of perCpu) lost += v.packets;
      return lost;
    },
    1000,
    (err) => log.warn('cannot read the lost-events counter', { err: err as Error }),
  );

  const listeners = { metrics: '', ui: '' };
  const closers: Array<() => Promise<void>> = [];
  const agent: Agent = {
    config,
    features,
    startedAt,
    datapath,
    endpoints,
    store,
    events,
    flows,
    metrics: agentMetricsSource({ datapath, services, flows }),
    ui: uiHandler(flows, { prefix: '/ui' }),
    listeners,
    ipam,
    log,
    lb,
    services,
    policy,
    stop: async () => {
      for (const close of closers.splice(0)) await close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      unwatch();
      await services.stop(); // [services]
      policy.stop();
      flows.stop();
      reader.close();
      await store.close();
      datapath.close();
      fs.rmSync(config.socket, { force: true });
      log.info('agent stopped; the datapath keeps running');
    },
  };

  const router = buildApi(agent);
  const server = http.createServer((req, res) => {
    // The UI's pages and assets are not JSON routes (`membrane ui` forwards here).
    if (req.url === '/ui' || req.url?.startsWith('/ui/') || req.url?.startsWith('/ui?')) agent.ui(req, res);
    else void router.handle(req, res);
  });
  await listenUnix(server, config.socket);
  // [observe] the loopback listeners: a taken address fails the start, naming the flag.
  try {
    if (config.prometheusServeAddr) {
      const m = await startMetricsServer(agent.metrics, config.prometheusServeAddr);
      closers.push(() => m.close());
      listeners.metrics = m.address;
    }
    if (config.uiServeAddr) {
      const u = await startUiServer(flows, config.uiServeAddr);
      closers.push(() => u.close());
      listeners.ui = u.address;
    }
  } catch (err) {
    await agent.stop();
    throw err;
  }
  if (listeners.metrics || listeners.ui) log.info('observability', { metrics: listeners.metrics ? `http://${listeners.metrics}/metrics` : 'off', ui: listeners.ui ? `http://${listeners.ui}/` : 'off' });
  log.info('agent ready', { node: config.nodeName, socket: config.socket, podCidr: ipam.cidr.text, endpoints: endpoints.list().length });
  return agent;
}

async function listenUnix(server: http.Server, socket: string): Promise<void> {
  fs.mkdirSync(path.dirname(socket), { recursive: true, mode: 0o755 });
  fs.rmSync(socket, { force: true }); // a stale socket from a killed agent
  const oldMask = process.umask(0o177); // the socket is created 0600: root only
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  fs.chmodSync(socket, 0o600);
}

/** Mounts bpffs at the pin directory's parent when it is missing (as Cilium does). */
async function mountBpffs(pinDir: string, log: Logger): Promise<void> {
  if (isBpffs(pinDir)) return;
  const mnt = path.dirname(pinDir);
  if (process.getuid?.() !== 0) return; // the probe explains
  fs.mkdirSync(mnt, { recursive: true });
  const r = await run('mount', ['-t', 'bpf', 'bpf', mnt], { allowFail: true });
  if (r.code === 0) log.info('mounted bpffs', { at: mnt });
  else log.warn('could not mount bpffs', { at: mnt, stderr: r.stderr.trim() });
}
