// Names of the datapath's service and backend flags, for the API and the CLI.
import {
  BACKEND_STATES, MB_BE_F_LOCAL, MB_SVC_F_AFFINITY, MB_SVC_F_CLUSTER_IP, MB_SVC_F_DSR, MB_SVC_F_EXTERNAL_IP, MB_SVC_F_LOADBALANCER,
  MB_SVC_F_LOCAL, MB_SVC_F_MAGLEV, MB_SVC_F_NODEPORT,
} from '../datapath/abi.ts';

const SVC_FLAGS: Array<[number, string]> = [
  [MB_SVC_F_CLUSTER_IP, 'cluster-ip'],
  [MB_SVC_F_NODEPORT, 'nodeport'],
  [MB_SVC_F_EXTERNAL_IP, 'external-ip'],
  [MB_SVC_F_LOADBALANCER, 'loadbalancer'],
  [MB_SVC_F_AFFINITY, 'affinity'],
  [MB_SVC_F_DSR, 'dsr'],
  [MB_SVC_F_MAGLEV, 'maglev'],
  [MB_SVC_F_LOCAL, 'local'],
];

/** MB_SVC_F_* bits as names, unknown bits as 0x… */
export function svcFlagNames(flags: number): string[] {
  const out: string[] = [];
  let rest = flags >>> 0;
  for (const [bit, name] of SVC_FLAGS) {
    if (rest & bit) {
      out.push(name);
      rest &= ~bit;
    }
  }
  if (rest) out.push(`0x${rest.toString(16)}`);
  return out;
}

export function backendFlagNames(flags: number): string[] {
  const out: string[] = [];
  if (flags & MB_BE_F_LOCAL) out.push('local');
  const rest = flags & ~MB_BE_F_LOCAL;
  if (rest) out.push(`0x${rest.toString(16)}`);
  return out;
}

export function backendStateName(state: number): string {
  return BACKEND_STATES[state] ?? `state ${state}`;
}
