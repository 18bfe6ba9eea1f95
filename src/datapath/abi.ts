// TypeScript mirror of bpf/include/abi.h. Keep both in step: the layout test
// (test/datapath/layout.test.ts) compiles the header and compares it with these codecs.
import { struct } from './codec.ts';

export const MB_MAX_ENDPOINTS = 65536;

export interface EndpointKey {
  ip4: string;
}
export const endpointKey = struct<EndpointKey>('mb_endpoint_key', [['ip4', 'ip4']]);

export const MB_EP_F_AUDIT = 1 << 0;

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
};
/** Metrics reason for events the ring buffer could not take (events.h). */
export const MB_METRIC_EVENT_LOST = 0xff;

export const MB_EVENT_DROP = 1;
export const MB_EVENT_TRACE = 2;

export const TRACE_POINTS: Record<number, string> = {
  1: 'from-endpoint',
  2: 'to-endpoint',
  3: 'to-stack',
};

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
  len: number;
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
  ['pad', { pad: 2 }],
  ['len', 'u32'],
]);

/** Every codec, for the layout test. */
export const ALL_CODECS = [endpointKey, endpointInfo, metricsKey, metricsValue, event];
