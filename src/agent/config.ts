// Everything the agent touches is a setting with a default (DESIGN.md §2.11),
// so several agents can run on one machine, one per simulated node.
import os from 'node:os';
import { DEFAULT_BPF_DIR, DEFAULT_PIN_DIR } from '../datapath/datapath.ts';
import { DEFAULT_SOCKET } from './api-types.ts';

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
}

export const DEFAULT_POD_CIDR = '10.200.0.0/24';

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
  };
}
