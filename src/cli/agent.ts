import { defaultConfig, type AgentConfig } from '../agent/config.ts';
import { startAgent } from '../agent/daemon.ts';
import { createLogger } from '../agent/log.ts';
import { InputError } from '../errors.ts';
import { isPrime } from '../service/maglev.ts';
import { parseCidr4 } from '../net/ip4.ts';
import { isIPv4 } from '../k8s/service.ts';
import type { Command } from './command.ts';
import { AGGREGATION_LEVELS, type AggregationLevel } from '../datapath/abi.ts';
import { parseListenAddr } from '../net/listen-addr.ts';

type ServiceOptions = Pick<AgentConfig, 'serviceCidr' | 'nodePortRange' | 'devices' | 'nodeIp' | 'lbAcceleration' | 'lbMode' | 'maglevTableSize' | 'cgroupRoot'>;

/** The service-related agent flags, each checked with a message that names it. */
export function parseServiceOptions(values: Record<string, unknown>): ServiceOptions {
  const str = (k: string, dflt: string) => (typeof values[k] === 'string' ? (values[k] as string) : dflt);
  const serviceCidr = str('service-cidr', d.serviceCidr);
  try {
    parseCidr4(serviceCidr);
  } catch (err) {
    throw new InputError('--service-cidr', `'${serviceCidr}' is not an IPv4 CIDR (${(err as Error).message})`);
  }
  const range = str('node-port-range', `${d.nodePortRange.min}-${d.nodePortRange.max}`);
  const m = /^(\d+)-(\d+)$/.exec(range);
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (!m || min < 1 || max > 65535 || min > max) throw new InputError('--node-port-range', `'${range}' is not MIN-MAX with 1 <= MIN <= MAX <= 65535`);
  const devices = str('devices', '').split(',').map((x) => x.trim()).filter((x) => x !== '');
  const nodeIp = str('node-ip', '');
  if (nodeIp !== '' && !isIPv4(nodeIp)) throw new InputError('--node-ip', `'${nodeIp}' is not an IPv4 address`);
  const lbAcceleration = str('lb-acceleration', d.lbAcceleration);
  if (lbAcceleration !== 'none' && lbAcceleration !== 'xdp') throw new InputError('--lb-acceleration', `'${lbAcceleration}' is not 'none' or 'xdp'`);
  const lbMode = str('lb-mode', d.lbMode);
  if (lbMode !== 'snat' && lbMode !== 'dsr') throw new InputError('--lb-mode', `'${lbMode}' is not 'snat' or 'dsr'`);
  const maglevTableSize = Number(str('maglev-table-size', String(d.maglevTableSize)));
  if (!Number.isInteger(maglevTableSize) || !isPrime(maglevTableSize) || maglevTableSize < 251 || maglevTableSize > 131071) {
    throw new InputError('--maglev-table-size', `'${String(values['maglev-table-size'])}' must be a prime between 251 and 131071 (e.g. 16381, 65521)`);
  }
  return { serviceCidr, nodePortRange: { min, max }, devices, nodeIp, lbAcceleration, lbMode, maglevTableSize, cgroupRoot: str('cgroup-root', d.cgroupRoot) };
}

const d = defaultConfig();

type ObserveOptions = Pick<AgentConfig, 'monitorAggregation' | 'monitorAggregationInterval' | 'bpfEvents' | 'flowBufferSize' | 'prometheusServeAddr' | 'uiServeAddr'>;

/** The observability flags (Cilium's and Hubble's names where they have one), each checked. */
export function parseObserveOptions(values: Record<string, unknown>): ObserveOptions {
  const str = (k: string, dflt: string) => (typeof values[k] === 'string' ? (values[k] as string) : dflt);
  const bool = (k: string, dflt: boolean) => {
    const v = str(k, String(dflt));
    if (v !== 'true' && v !== 'false') throw new InputError(`--${k}`, `'${v}' is not 'true' or 'false'`);
    return v === 'true';
  };
  const int = (k: string, dflt: number, min: number, max: number) => {
    const v = Number(str(k, String(dflt)));
    if (!Number.isInteger(v) || v < min || v > max) throw new InputError(`--${k}`, `'${String(values[k])}' is not an integer between ${min} and ${max}`);
    return v;
  };
  const level = str('monitor-aggregation', d.monitorAggregation);
  if (!(AGGREGATION_LEVELS as readonly string[]).includes(level)) throw new InputError('--monitor-aggregation', `'${level}' is not one of ${AGGREGATION_LEVELS.join(', ')}`);
  const addr = (k: string, dflt: string) => {
    const v = str(k, dflt);
    if (v !== '') parseListenAddr(`--${k}`, v); // '' turns the listener off
    return v;
  };
  return {
    monitorAggregation: level as AggregationLevel,
    monitorAggregationInterval: int('monitor-aggregation-interval', d.monitorAggregationInterval, 1, 3600),
    bpfEvents: {
      trace: bool('bpf-events-trace-enabled', d.bpfEvents.trace),
      drop: bool('bpf-events-drop-enabled', d.bpfEvents.drop),
      policyVerdict: bool('bpf-events-policy-verdict-enabled', d.bpfEvents.policyVerdict),
    },
    flowBufferSize: int('flow-buffer-size', d.flowBufferSize, 1, 1 << 22),
    prometheusServeAddr: addr('prometheus-serve-addr', d.prometheusServeAddr),
    uiServeAddr: addr('ui-serve-addr', d.uiServeAddr),
  };
}

/** The agent's config from its flags: defaults, then every flag given, each checked. */
export function agentConfig(values: Record<string, unknown>): AgentConfig {
  const str = (k: string, dflt: string) => (typeof values[k] === 'string' ? (values[k] as string) : dflt);
  const level = str('log-level', d.logLevel);
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new InputError('--log-level', `'${level}' is not one of debug, info, warn, error`);
  const allowLocalhost = str('allow-localhost', d.allowLocalhost);
  if (allowLocalhost !== 'always' && allowLocalhost !== 'policy') throw new InputError('--allow-localhost', `'${allowLocalhost}' is not 'always' or 'policy'`);
  const mtu = Number(str('mtu', String(d.mtu)));
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) throw new InputError('--mtu', `'${String(values.mtu)}' is not an MTU between 576 and 65535`);
  return {
    ...d,
    ...parseServiceOptions(values),
    ...parseObserveOptions(values),
    nodeName: str('node-name', d.nodeName),
    socket: str('socket', d.socket),
    podCidr: str('pod-cidr', d.podCidr),
    stateDir: str('state-dir', d.stateDir),
    pinDir: str('pin-dir', d.pinDir),
    bpfDir: str('bpf-dir', d.bpfDir),
    masquerade: values['no-masquerade'] !== true,
    mtu,
    logLevel: level as AgentConfig['logLevel'],
    policyAuditMode: values['policy-audit-mode'] === true,
    allowLocalhost,
  };
}

export const agentCommand: Command = {
  name: 'agent',
  summary: 'Run the node agent (datapath, endpoints, API) in the foreground',
  usage: 'membrane agent [options]',
  description: `
The agent loads Membrane's eBPF programs, pins their maps under --pin-dir,
restores the endpoints recorded under --state-dir and serves the API on
--socket. Stopping it (SIGTERM, Ctrl-C) leaves the datapath running; a
restarted agent picks up where it left off.`,
  options: {
    'node-name': { type: 'string', value: 'NAME', help: 'name of this node', default: d.nodeName },
    'pod-cidr': { type: 'string', value: 'CIDR', help: "this node's pod CIDR", default: d.podCidr },
    'state-dir': { type: 'string', value: 'DIR', help: 'desired state on disk', default: d.stateDir },
    'pin-dir': { type: 'string', value: 'DIR', help: 'bpffs directory for pinned maps', default: d.pinDir },
    'bpf-dir': { type: 'string', value: 'DIR', help: 'directory of the compiled eBPF objects', default: d.bpfDir },
    'no-masquerade': { type: 'boolean', help: 'do not masquerade pod traffic that leaves the pod CIDR' },
    mtu: { type: 'string', value: 'BYTES', help: 'MTU of pod interfaces', default: String(d.mtu) },
    'log-level': { type: 'string', value: 'LEVEL', help: 'debug, info, warn or error', default: d.logLevel },
    'service-cidr': { type: 'string', value: 'CIDR', help: 'range for ClusterIPs a Service does not give', default: d.serviceCidr },
    'node-port-range': { type: 'string', value: 'MIN-MAX', help: 'range for NodePorts a Service does not give', default: `${d.nodePortRange.min}-${d.nodePortRange.max}` },
    devices: { type: 'string', value: 'DEV[,DEV]', help: "node devices that load-balance external traffic (default: the default route's device)" },
    'node-ip': { type: 'string', value: 'IP', help: 'NodePort and SNAT address (default: the first address of the first device)' },
    'lb-acceleration': { type: 'string', value: 'MODE', help: "'none' (tc) or 'xdp' (XDP on the devices too)", default: d.lbAcceleration },
    'lb-mode': { type: 'string', value: 'MODE', help: "external traffic: 'snat' or 'dsr'", default: d.lbMode },
    'maglev-table-size': { type: 'string', value: 'M', help: 'entries per Maglev table (a prime)', default: String(d.maglevTableSize) },
    'cgroup-root': { type: 'string', value: 'DIR', help: 'cgroup-v2 directory whose processes get socket LB', default: d.cgroupRoot },
    'policy-audit-mode': { type: 'boolean', help: 'report policy denials (verdict AUDIT) instead of dropping, on every endpoint' },
    'allow-localhost': { type: 'string', value: 'MODE', help: "traffic from this node to its pods: 'always' allowed, or judged by 'policy'", default: d.allowLocalhost },
    'monitor-aggregation': { type: 'string', value: 'LEVEL', help: `trace events per connection: ${AGGREGATION_LEVELS.join(', ')} (docs/observability.md)`, default: d.monitorAggregation },
    'monitor-aggregation-interval': { type: 'string', value: 'SECONDS', help: 'low/medium: report an active connection at least this often', default: String(d.monitorAggregationInterval) },
    'bpf-events-trace-enabled': { type: 'string', value: 'BOOL', help: 'emit trace events from the datapath', default: 'true' },
    'bpf-events-drop-enabled': { type: 'string', value: 'BOOL', help: 'emit drop events (drops are counted either way)', default: 'true' },
    'bpf-events-policy-verdict-enabled': { type: 'string', value: 'BOOL', help: 'emit policy-verdict events', default: 'true' },
    'flow-buffer-size': { type: 'string', value: 'N', help: 'flows kept for membrane observe --last', default: String(d.flowBufferSize) },
    'prometheus-serve-addr': { type: 'string', value: 'HOST:PORT', help: "Prometheus metrics ('' = off)", default: d.prometheusServeAddr },
    'ui-serve-addr': { type: 'string', value: 'HOST:PORT', help: "web UI: service map and flows ('' = off)", default: d.uiServeAddr },
  },
  async run({ values }) {
    const config = agentConfig(values);
    const log = createLogger({ level: config.logLevel });
    const agent = await startAgent(config, log);
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        log.info('stopping', { signal: sig });
        resolve();
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    await agent.stop();
    return 0;
  },
};
