import { defaultConfig, type AgentConfig } from '../agent/config.ts';
import { startAgent } from '../agent/daemon.ts';
import { createLogger } from '../agent/log.ts';
import { InputError } from '../errors.ts';
import type { Command } from './command.ts';

const d = defaultConfig();

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
  },
  async run({ values }) {
    const level = String(values['log-level']);
    if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new InputError('--log-level', `'${level}' is not one of debug, info, warn, error`);
    const mtu = Number(values.mtu);
    if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) throw new InputError('--mtu', `'${String(values.mtu)}' is not an MTU between 576 and 65535`);
    const config: AgentConfig = {
      ...d,
      nodeName: String(values['node-name']),
      socket: typeof values.socket === 'string' ? values.socket : d.socket,
      podCidr: String(values['pod-cidr']),
      stateDir: String(values['state-dir']),
      pinDir: String(values['pin-dir']),
      bpfDir: String(values['bpf-dir']),
      masquerade: values['no-masquerade'] !== true,
      mtu,
      logLevel: level as AgentConfig['logLevel'],
    };
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
