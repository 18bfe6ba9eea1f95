// TypeScript mirror of bpf/include/abi.h. Keep both in step: the layout test
// (test/datapath/layout.test.ts) compiles the header and compares it with these codecs.
import { struct } from './codec.ts';

export const MB_MAX_ENDPOINTS = 65536;

export interface EndpointKey {
  ip4: string;
}
export const endpointKey = struct<EndpointKey>('mb_endpoint_key', [['ip4', 'ip4']]);

export const MB_EP_F_AUDIT = 1 << 0;
export const MB_EP_F_INGRESS_POLICY = 1 << 1;
export const MB_EP_F_EGRESS_POLICY = 1 << 2;

export interface EndpointInfo {
  ifindex: number;
  lxc_id: number;
  identity: number;
  flags: number;
  mac: string;
  node_mac: string;
}
export const endpointInfo = struct<EndpointInfo>('mb_endpoint_info', [
  ['ifindex', 'u32'],
  ['lxc_id', 'u32'],
  ['identity', 'u32'],
  ['flags', 'u32'],
  ['mac', 'mac'],
  ['node_mac', 'mac'],
]);

export const MB_DIR_EGRESS = 1;
export const MB_DIR_INGRESS = 2;

export interface MetricsKey {
  reason: number;
  dir: number;
}
export const metricsKey = struct<MetricsKey>('mb_metrics_key', [
  ['reason', 'u8'],
  ['dir', 'u8'],
  ['pad', { pad: 2 }],
]);

export interface MetricsValue {
  packets: bigint;
  bytes: bigint;
}
export const metricsValue = struct<MetricsValue>('mb_metrics_value', [
  ['packets', 'u64'],
  ['bytes', 'u64'],
]);

export const DROP_REASONS: Record<number, string> = {
  1: 'INVALID_SOURCE_IP',
  2: 'UNSUPPORTED_L3_PROTOCOL',
  3: 'INVALID_PACKET',
  4: 'UNKNOWN_ENDPOINT',
  5: 'SERVICE_BACKEND_NOT_FOUND',
  6: 'NAT_NO_PORT',
  7: 'NO_LOCAL_BACKEND',
  8: 'FIB_LOOKUP_FAILED',
  9: 'POLICY_DENIED',
  10: 'POLICY_DENY',
  11: 'CT_MAP_INSERTION_FAILED',
};
export const MB_DROP_NO_SERVICE = 5;
export const MB_DROP_NAT_NO_PORT = 6;
export const MB_DROP_NO_LOCAL_BACKEND = 7;
export const MB_DROP_FIB_FAIL = 8;
export const MB_DROP_POLICY = 9;
export const MB_DROP_POLICY_DENY = 10;
export const MB_DROP_CT_FULL = 11;
/** Metrics reason for events the ring buffer could not take (events.h). */
export const MB_METRIC_EVENT_LOST = 0xff;

export const MB_EVENT_DROP = 1;
export const MB_EVENT_TRACE = 2;
export const MB_EVENT_POLICY = 3;

export const MB_VERDICT_ALLOWED = 1;
export const MB_VERDICT_DENIED = 2;
export const MB_VERDICT_AUDIT = 3;
export const VERDICTS: Record<number, string> = { 1: 'ALLOWED', 2: 'DENIED', 3: 'AUDIT' };

/** mb_event.subtype of a policy verdict (Hubble's match types). */
export const POLICY_MATCHES: Record<number, string> = { 0: 'none', 1: 'L3-Only', 2: 'L3-L4', 3: 'L4-Only', 4: 'all' };

export const TRACE_POINTS: Record<number, string> = {
  1: 'from-endpoint',
  2: 'to-endpoint',
  3: 'to-stack',
  4: 'from-network',
  5: 'to-network',
};
export const MB_TRACE_FROM_ENDPOINT = 1;
export const MB_TRACE_TO_ENDPOINT = 2;
export const MB_TRACE_TO_STACK = 3;
export const MB_TRACE_FROM_NETWORK = 4;
export const MB_TRACE_TO_NETWORK = 5;

/** mb_event.flags */
export const MB_EVF_REPLY_KNOWN = 1 << 0;
export const MB_EVF_REPLY = 1 << 1;
export const MB_EVF_NEW = 1 << 2;

/** mb_config.aggregation: Cilium's monitor-aggregation levels (abi.h). */
export const AGGREGATION_LEVELS = ['none', 'lowest', 'low', 'medium', 'maximum'] as const;
export type AggregationLevel = (typeof AGGREGATION_LEVELS)[number];

export interface RawEvent {
  ts_ns: bigint;
  type: number;
  subtype: number;
  source: number;
  ifindex: number;
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: number;
  tcp_flags: number;
  dir: number;
  verdict: number;
  len: number;
  src_identity: number;
  dst_identity: number;
  rule_id: number;
  orig_daddr: string;
  orig_dport: number;
  flags: number;
}
export const event = struct<RawEvent>('mb_event', [
  ['ts_ns', 'u64'],
  ['type', 'u8'],
  ['subtype', 'u8'],
  ['source', 'u16'],
  ['ifindex', 'u32'],
  ['saddr', 'ip4'],
  ['daddr', 'ip4'],
  ['sport', 'be16'],
  ['dport', 'be16'],
  ['proto', 'u8'],
  ['tcp_flags', 'u8'],
  ['dir', 'u8'],
  ['verdict', 'u8'],
  ['len', 'u32'],
  ['src_identity', 'u32'],
  ['dst_identity', 'u32'],
  ['rule_id', 'u32'],
  ['orig_daddr', 'ip4'],
  ['orig_dport', 'be16'],
  ['flags', 'u8'],
  ['pad2', { pad: 1 }],
]);

// --- trace aggregation (mb_agg4) ----------------------------------------------

export interface Agg4Key {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: number;
}
export const agg4Key = struct<Agg4Key>('mb_agg4_key', [
  ['saddr', 'ip4'],
  ['daddr', 'ip4'],
  ['sport', 'be16'],
  ['dport', 'be16'],
  ['proto', 'u8'],
  ['pad', { pad: 3 }],
]);

export interface Agg4Entry {
  last_report_fwd_ns: bigint;
  last_report_rev_ns: bigint;
  flags_seen_fwd: number;
  flags_seen_rev: number;
}
export const agg4Entry = struct<Agg4Entry>('mb_agg4_entry', [
  ['last_report_fwd_ns', 'u64'],
  ['last_report_rev_ns', 'u64'],
  ['flags_seen_fwd', 'u8'],
  ['flags_seen_rev', 'u8'],
  ['pad', { pad: 6 }],
]);

// --- services -------------------------------------------------------------

export const MB_LB_SVC_MAX = 1 << 19;
export const MB_LB_BACKENDS_MAX = 1 << 18;
export const MB_LB_REVNAT_MAX = 65536;
export const MB_LB_MAGLEV_MAX = 4096;
export const MB_CT_MAX = 1 << 18;

export const MB_LB_SCOPE_EXT = 0;
export const MB_LB_SCOPE_INT = 1;

export interface Lb4Key {
  addr: string;
  dport: number;
  slot: number;
  proto: number;
  scope: number;
}
export const lb4Key = struct<Lb4Key>('mb_lb4_key', [
  ['addr', 'ip4'],
  ['dport', 'be16'],
  ['slot', 'u16'],
  ['proto', 'u8'],
  ['scope', 'u8'],
  ['pad', { pad: 2 }],
]);

export const MB_SVC_F_CLUSTER_IP = 1 << 0;
export const MB_SVC_F_NODEPORT = 1 << 1;
export const MB_SVC_F_EXTERNAL_IP = 1 << 2;
export const MB_SVC_F_LOADBALANCER = 1 << 3;
export const MB_SVC_F_AFFINITY = 1 << 4;
export const MB_SVC_F_DSR = 1 << 5;
export const MB_SVC_F_MAGLEV = 1 << 6;
export const MB_SVC_F_LOCAL = 1 << 7;

export interface Lb4Service {
  backend_id: number;
  count: number;
  rev_nat_id: number;
  flags: number;
  affinity_timeout: number;
}
export const lb4Service = struct<Lb4Service>('mb_lb4_service', [
  ['backend_id', 'u32'],
  ['count', 'u16'],
  ['rev_nat_id', 'u16'],
  ['flags', 'u32'],
  ['affinity_timeout', 'u32'],
]);

export const MB_BACKEND_ACTIVE = 0;
export const MB_BACKEND_TERMINATING = 1;
export const MB_BACKEND_MAINTENANCE = 2;
export const BACKEND_STATES = ['active', 'terminating', 'maintenance'] as const;
export type BackendState = (typeof BACKEND_STATES)[number];
export const MB_BE_F_LOCAL = 1 << 0;

export interface Lb4BackendKey {
  backend_id: number;
}
export const lb4BackendKey = struct<Lb4BackendKey>('mb_lb4_backend_key', [['backend_id', 'u32']]);

export interface Lb4Backend {
  addr: string;
  port: number;
  proto: number;
  state: number;
  flags: number;
}
export const lb4Backend = struct<Lb4Backend>('mb_lb4_backend', [
  ['addr', 'ip4'],
  ['port', 'be16'],
  ['proto', 'u8'],
  ['state', 'u8'],
  ['flags', 'u32'],
]);

export interface Lb4RevnatKey {
  rev_nat_id: number;
}
export const lb4RevnatKey = struct<Lb4RevnatKey>('mb_lb4_revnat_key', [['rev_nat_id', 'u32']]);

export interface Lb4Revnat {
  addr: string;
  port: number;
}
export const lb4Revnat = struct<Lb4Revnat>('mb_lb4_revnat', [
  ['addr', 'ip4'],
  ['port', 'be16'],
  ['pad', { pad: 2 }],
]);

export interface Lb4AffinityKey {
  client: bigint;
  rev_nat_id: number;
  netns: number;
}
export const lb4AffinityKey = struct<Lb4AffinityKey>('mb_lb4_affinity_key', [
  ['client', 'u64'],
  ['rev_nat_id', 'u32'],
  ['netns', 'u8'],
  ['pad', { pad: 3 }],
]);

export interface Lb4Affinity {
  last_used_ns: bigint;
  backend_id: number;
}
export const lb4Affinity = struct<Lb4Affinity>('mb_lb4_affinity', [
  ['last_used_ns', 'u64'],
  ['backend_id', 'u32'],
  ['pad', { pad: 4 }],
]);

export interface Sock4RevnatKey {
  cookie: bigint;
  addr: string;
  port: number;
}
export const sock4RevnatKey = struct<Sock4RevnatKey>('mb_sock4_revnat_key', [
  ['cookie', 'u64'],
  ['addr', 'ip4'],
  ['port', 'be16'],
  ['pad', { pad: 2 }],
]);

export interface Sock4Revnat {
  addr: string;
  port: number;
  rev_nat_id: number;
}
export const sock4Revnat = struct<Sock4Revnat>('mb_sock4_revnat', [
  ['addr', 'ip4'],
  ['port', 'be16'],
  ['rev_nat_id', 'u16'],
]);

// --- conntrack --------------------------------------------------------------

export const MB_CT_DIR_FWD = 0;
export const MB_CT_DIR_REV = 1;
export const MB_CT_F_SNAT = 1 << 0;
export const MB_CT_F_DSR = 1 << 1;
export const MB_CT_F_CLOSING = 1 << 2;
export const MB_CT_F_SEEN_REPLY = 1 << 3;

export interface Ct4Key {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: number;
  dir: number;
}
export const ct4Key = struct<Ct4Key>('mb_ct4_key', [
  ['saddr', 'ip4'],
  ['daddr', 'ip4'],
  ['sport', 'be16'],
  ['dport', 'be16'],
  ['proto', 'u8'],
  ['dir', 'u8'],
  ['pad', { pad: 2 }],
]);

export interface Ct4Entry {
  last_seen_ns: bigint;
  packets: bigint;
  bytes: bigint;
  client_addr: string;
  fe_addr: string;
  backend_addr: string;
  nat_addr: string;
  client_port: number;
  fe_port: number;
  backend_port: number;
  nat_port: number;
  backend_id: number;
  rev_nat_id: number;
  proto: number;
  flags: number;
}
export const ct4Entry = struct<Ct4Entry>('mb_ct4_entry', [
  ['last_seen_ns', 'u64'],
  ['packets', 'u64'],
  ['bytes', 'u64'],
  ['client_addr', 'ip4'],
  ['fe_addr', 'ip4'],
  ['backend_addr', 'ip4'],
  ['nat_addr', 'ip4'],
  ['client_port', 'be16'],
  ['fe_port', 'be16'],
  ['backend_port', 'be16'],
  ['nat_port', 'be16'],
  ['backend_id', 'u32'],
  ['rev_nat_id', 'u16'],
  ['proto', 'u8'],
  ['flags', 'u8'],
]);

// --- identities and the ipcache ---------------------------------------------------

export const MB_ID_ANY = 0;
export const MB_ID_HOST = 1;
export const MB_ID_WORLD = 2;
export const MB_ID_UNMANAGED = 3;
export const MB_ID_HEALTH = 4;
export const MB_ID_INIT = 5;
export const MB_ID_REMOTE_NODE = 6;
export const MB_ID_KUBE_APISERVER = 7;
export const MB_ID_CLUSTER_MIN = 256;
export const MB_ID_CLUSTER_MAX = 65535;
export const MB_ID_CIDR_MIN = 1 << 24;
export const MB_IPCACHE_MAX = 1 << 18;

export interface IpcacheKey {
  prefixlen: number;
  ip4: string;
}
export const ipcacheKey = struct<IpcacheKey>('mb_ipcache_key', [
  ['prefixlen', 'u32'],
  ['ip4', 'ip4'],
]);

export interface IpcacheEntry {
  identity: number;
  cidr_identity: number;
}
export const ipcacheEntry = struct<IpcacheEntry>('mb_ipcache_entry', [
  ['identity', 'u32'],
  ['cidr_identity', 'u32'],
]);

// --- policy --------------------------------------------------------------------

export const MB_POLICY_MAX = 1 << 20;
export const MB_POLICY_PREFIX_ANY_PROTO = 64;
export const MB_POLICY_PREFIX_ANY_PORT = 80;
export const MB_POLICY_PREFIX_FULL = 96;
export const MB_POLICY_F_DENY = 1 << 0;

export interface PolicyKey {
  /** 64: any protocol; 80: any port of `proto`; 80 + n: the first n bits of dport. */
  prefixlen: number;
  lxc_id: number;
  /** MB_DIR_INGRESS or MB_DIR_EGRESS */
  dir: number;
  /** Remote identity, MB_ID_ANY for any. */
  identity: number;
  proto: number;
  /** Host order here; network order in the map. */
  dport: number;
}
export const policyKey = struct<PolicyKey>('mb_policy_key', [
  ['prefixlen', 'u32'],
  ['lxc_id', 'u16'],
  ['dir', 'u8'],
  ['pad', { pad: 1 }],
  ['identity', 'u32'],
  ['proto', 'u8'],
  ['pad2', { pad: 1 }],
  ['dport', 'be16'],
]);

export interface PolicyEntry {
  rule_id: number;
  flags: number;
}
export const policyEntry = struct<PolicyEntry>('mb_policy_entry', [
  ['rule_id', 'u32'],
  ['flags', 'u32'],
]);

export const MB_PCT_MAX = 1 << 18;
export const MB_PCT_F_SEEN_REPLY = 1 << 0;

export interface Pct4Key {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: number;
}
export const pct4Key = struct<Pct4Key>('mb_pct4_key', [
  ['saddr', 'ip4'],
  ['daddr', 'ip4'],
  ['sport', 'be16'],
  ['dport', 'be16'],
  ['proto', 'u8'],
  ['pad', { pad: 3 }],
]);

export interface Pct4Entry {
  last_seen_ns: bigint;
  src_identity: number;
  dst_identity: number;
  rule_id: number;
  flags: number;
}
export const pct4Entry = struct<Pct4Entry>('mb_pct4_entry', [
  ['last_seen_ns', 'u64'],
  ['src_identity', 'u32'],
  ['dst_identity', 'u32'],
  ['rule_id', 'u32'],
  ['flags', 'u32'],
]);

// --- node configuration -------------------------------------------------------

export const MB_CFG_F_POLICY_AUDIT = 1 << 0;
export const MB_CFG_F_HOST_POLICY = 1 << 1;
export const MB_CFG_F_NO_TRACE = 1 << 2;
export const MB_CFG_F_NO_DROP = 1 << 3;
export const MB_CFG_F_NO_POLICY = 1 << 4;

export interface NodeConfig {
  node_ip4: string;
  maglev_size: number;
  snat_port_min: number;
  snat_port_max: number;
  flags: number;
  /** MB_AGG_*: the index in AGGREGATION_LEVELS. */
  aggregation: number;
  agg_interval_s: number;
}
export const nodeConfig = struct<NodeConfig>('mb_config', [
  ['node_ip4', 'ip4'],
  ['maglev_size', 'u32'],
  ['snat_port_min', 'u16'],
  ['snat_port_max', 'u16'],
  ['flags', 'u32'],
  ['aggregation', 'u8'],
  ['pad', { pad: 1 }],
  ['agg_interval_s', 'u16'],
]);

export interface U32Key {
  key: number;
}
export const u32Key = struct<U32Key>('u32', [['key', 'u32']]);

/** Every codec of a struct in abi.h, for the layout test. */
export const ALL_CODECS = [
  endpointKey, endpointInfo, metricsKey, metricsValue, event,
  lb4Key, lb4Service, lb4BackendKey, lb4Backend, lb4RevnatKey, lb4Revnat,
  lb4AffinityKey, lb4Affinity, sock4RevnatKey, sock4Revnat, ct4Key, ct4Entry, nodeConfig,
  ipcacheKey, ipcacheEntry, policyKey, policyEntry, pct4Key, pct4Entry, agg4Key, agg4Entry,
];
