// Everything the agent touches is a setting with a default (DESIGN.md §2.11),
// so several agents can run on one machine, one per simulated node.
import fs from 'node:fs';
import os from 'node:os';
import { DEFAULT_NODE_PORT_RANGE } from '../k8s/service.ts';
import { MAGLEV_DEFAULT_TABLE_SIZE } from '../service/maglev.ts';
import { DEFAULT_BPF_DIR, DEFAULT_PIN_DIR } from '../datapath/datapath.ts';
import { DEFAULT_SOCKET } from './api-types.ts';
import type { AggregationLevel } from '../datapath/abi.ts';

export interface AgentConfig {
  nodeName: string;
  socket: string;
  stateDir: string;
  pinDir: string;
  bpfDir: string;
  podCidr: string;
  masquerade: boolean;
  mtu: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** ClusterIPs are allocated from here when a Service gives none. */
  serviceCidr: string;
  /** NodePorts are allocated from here when a Service gives none. */
  nodePortRange: { min: number; max: number };
  /** Node devices that get the per-packet LB (NodePort, LoadBalancer, externalIPs); empty = the default route's device. */
  devices: string[];
  /** NodePort frontend / SNAT address; empty = the first IPv4 address of the first device. */
  nodeIp: string;
  /** 'none': tc only; 'xdp': XDP on the devices as well (Cilium's loadBalancer.acceleration). */
  lbAcceleration: 'none' | 'xdp';
  /** External traffic: 'snat' (default) or 'dsr' (client address kept, reply from the backend's node). */
  lbMode: 'snat' | 'dsr';
  /** Entries of each Maglev table: a prime. */
  maglevTableSize: number;
  /** cgroup-v2 directory whose processes get socket LB; default: the cgroup-v2 root. */
  cgroupRoot: string;
  /** Policy audit mode for every endpoint of the node: denials are reported (verdict AUDIT), not enforced. */
  policyAuditMode: boolean;
  /** Traffic from the node to its endpoints: 'always' allowed (default, as Cilium), or judged by 'policy' like any other source. */
  allowLocalhost: 'always' | 'policy';
  /** Trace aggregation in the datapath (Cilium's monitor-aggregation): none, lowest, low, medium (default), maximum. */
  monitorAggregation: AggregationLevel;
  /** low/medium: an active connection direction is reported at least this often (seconds). */
  monitorAggregationInterval: number;
  /** Which events the datapath emits (drops are counted in mb_metrics either way). */
  bpfEvents: { trace: boolean; drop: boolean; policyVerdict: boolean };
  /** Flows kept in the agent's ring for `membrane observe --last` (Hubble's event buffer capacity). */
  flowBufferSize: number;
  /** Prometheus metrics on HOST:PORT (loopback of the agent's netns by default); '' = off. */
  prometheusServeAddr: string;
  /** The web UI on HOST:PORT (loopback by default); '' = off. */
  uiServeAddr: string;
}

export const DEFAULT_POD_CIDR = '10.200.0.0/24';
export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12';
/** Where cgroup v2 is mounted: /sys/fs/cgroup on unified systems, .../unified on hybrid ones. */
export function defaultCgroupRoot(): string {
  return fs.existsSync('/sys/fs/cgroup/unified/cgroup.procs') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup';
}

export function defaultConfig(): AgentConfig {
  return {
    nodeName: os.hostname(),
    socket: process.env.MEMBRANE_SOCKET ?? DEFAULT_SOCKET,
    stateDir: '/var/lib/membrane',
    pinDir: DEFAULT_PIN_DIR,
    bpfDir: DEFAULT_BPF_DIR,
    podCidr: DEFAULT_POD_CIDR,
    masquerade: true,
    mtu: 1500,
    logLevel: 'info',
    serviceCidr: DEFAULT_SERVICE_CIDR,
    nodePortRange: { ...DEFAULT_NODE_PORT_RANGE },
    devices: [],
    nodeIp: '',
    lbAcceleration: 'none',
    lbMode: 'snat',
    maglevTableSize: MAGLEV_DEFAULT_TABLE_SIZE,
    cgroupRoot: defaultCgroupRoot(),
    policyAuditMode: false,
    allowLocalhost: 'always',
    monitorAggregation: 'medium',
    monitorAggregationInterval: 5,
    bpfEvents: { trace: true, drop: true, policyVerdict: true },
    flowBufferSize: 4095,
    prometheusServeAddr: '127.0.0.1:9962',
    uiServeAddr: '127.0.0.1:12000',
  };
}
