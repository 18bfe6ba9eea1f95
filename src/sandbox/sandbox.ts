// The newcomer's sandbox: one isolated node (network namespaces) running an
// agent on the default socket, three labelled pods made through the CNI
// plugin, and a "world" host on the node's uplink. State (pids, pods) is kept
// in a file so `down` works from another shell.
import fs from 'node:fs';
import path from 'node:path';
import { AgentClient } from '../agent/client.ts';
import { DEFAULT_SOCKET } from '../agent/api-types.ts';
import { MembraneError } from '../errors.ts';
import { run } from '../endpoint/exec.ts';
import { writeJsonAtomic } from '../kvstore/atomic-file.ts';
import { startServer, Topology, type TopologySpec } from './topology.ts';

export const SANDBOX_DIR = '/var/lib/membrane-sandbox';
const STATE_FILE = path.join(SANDBOX_DIR, 'sandbox.json');

export const SANDBOX_PODS = [
  { namespace: 'demo', name: 'frontend', labels: { app: 'frontend', tier: 'web' } },
  { namespace: 'demo', name: 'backend-1', labels: { app: 'backend', tier: 'api' } },
  { namespace: 'demo', name: 'backend-2', labels: { app: 'backend', tier: 'api' } },
] as const;

export function sandboxSpec(socket = DEFAULT_SOCKET): TopologySpec {
  return {
    name: 'mbx',
    podCidr: '10.200.0.0/24',
    uplink: '198.18.0',
    workDir: SANDBOX_DIR,
    pinDir: '/sys/fs/bpf/membrane-sandbox',
    serviceCidr: SANDBOX_SERVICE_CIDR,
    socket,
  };
}

export const SANDBOX_SERVICE_CIDR = '10.96.0.0/16';
/** The sandbox's service: ClusterIP and NodePort in front of the backend pods. */
export const SANDBOX_SERVICE = { namespace: 'demo', name: 'backend', clusterIP: '10.96.0.10', port: 80, nodePort: 30080 } as const;

export function serviceManifest(): string {
  const s = SANDBOX_SERVICE;
  return `apiVersion: v1
kind: Service
metadata:
  name: ${s.name}
  namespace: ${s.namespace}
spec:
  type: NodePort
  clusterIP: ${s.clusterIP}
  selector:
    app: backend
  ports:
  - name: http
    port: ${s.port}
    targetPort: http
    nodePort: ${s.nodePort}
`;
}

/**
 * The sandbox's policy: the backends accept HTTP from the frontend and from
 * the outside world's range (NodePort clients), nothing else — so
 * backend-1 → backend-2 is blocked, and shows up as a policy drop.
 */
export function policyManifest(): string {
  return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: backend-ingress
  namespace: demo
spec:
  podSelector:
    matchLabels:
      app: backend
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchLabels:
          app: frontend
    - ipBlock:
        cidr: 198.18.0.0/24
    ports:
    - port: http
      protocol: TCP
`;
}

interface SandboxState {
  socket: string;
  agentPid: number;
  serverPids: number[];
  pods: Array<{ namespace: string; name: string; netnsName: string; netns: string; containerID: string; ip: string; result: unknown }>;
}

export function podManifest(): string {
  const docs = [
    'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n  labels:\n    team: sandbox\n',
    ...SANDBOX_PODS.map(
      (p) =>
        `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${p.name}\n  namespace: ${p.namespace}\n  labels:\n${Object.entries(p.labels).map(([k, v]) => `    ${k}: ${v}`).join('\n')}\nspec:\n  containers:\n  - name: app\n    image: membrane/sandbox\n    ports:\n    - name: http\n      containerPort: 8080\n`,
    ),
  ];
  return docs.join('---\n');
}

export function sandboxExists(): boolean {
  return fs.existsSync(STATE_FILE);
}

export async function sandboxUp(log: (s: string) => void, socket = DEFAULT_SOCKET): Promise<Topology> {
  if (sandboxExists()) throw new MembraneError('CONFLICT', "a sandbox is already up — see 'membrane endpoint list', or remove it with 'membrane sandbox down'");
  const probe = new AgentClient({ socketPath: socket, timeoutMs: 1000 });
  if (await probe.get('/v1/healthz').then(() => true, () => false)) {
    throw new MembraneError('CONFLICT', `an agent already answers on ${socket}; stop it, or give the sandbox another --socket`);
  }
  const spec = sandboxSpec(socket);
  log('creating the node (netns mbx-node) and the outside world (netns mbx-world, 198.18.0.100)');
  const t = await Topology.create(spec);
  try {
    log(`starting the agent (log: ${t.logFile})`);
    const agent = await t.startAgent([], { detached: true });
    log('applying Namespace and Pod manifests (labels come from them)');
    await t.client.post('/v1/apply', { manifest: podManifest(), source: 'sandbox' });
    for (const p of SANDBOX_PODS) {
      const pod = await t.addPod(p.namespace, p.name, { server: true, detached: true });
      log(`pod ${p.namespace}/${p.name} is up at ${pod.ip} (made by the membrane-cni plugin)`);
    }
    const s = SANDBOX_SERVICE;
    log(`applying Service ${s.namespace}/${s.name}: ClusterIP ${s.clusterIP}:${s.port} and NodePort ${t.nodeIp}:${s.nodePort} in front of the backend pods`);
    await t.client.post('/v1/apply', { manifest: serviceManifest(), source: 'sandbox' });
    log('applying NetworkPolicy demo/backend-ingress: the backends accept HTTP from the frontend and the world, nothing else');
    await t.client.post('/v1/apply', { manifest: policyManifest(), source: 'sandbox' });
    t.worldServer = await startServer(t.worldNs, 'world', { detached: true });
    const state: SandboxState = {
      socket,
      agentPid: agent.pid!,
      serverPids: [...[...t.pods.values()].map((p) => p.server!.pid!), t.worldServer.pid!],
      pods: [...t.pods.values()].map(({ server: _s, ...p }) => p),
    };
    writeJsonAtomic(STATE_FILE, state);
    agent.unref();
    for (const p of t.pods.values()) p.server?.unref();
    t.worldServer.unref();
    return t;
  } catch (err) {
    await t.destroy();
    throw err;
  }
}

export async function sandboxDown(log: (s: string) => void): Promise<void> {
  let state: SandboxState | undefined;
  try {
    state = JSON.parse(fs.readFileSync(STATE_FILE, 'utf8')) as SandboxState;
  } catch {
    state = undefined;
  }
  const t = Topology.attach(sandboxSpec(state?.socket));
  for (const pid of state?.serverPids ?? []) killQuietly(pid, 'SIGKILL');
  for (const p of state?.pods ?? []) {
    try {
      await t.cni.del(t.conflist, { containerID: p.containerID, netns: p.netns, ifName: 'eth0' }, p.result);
      log(`pod ${p.namespace}/${p.name} removed`);
    } catch (err) {
      log(`pod ${p.namespace}/${p.name}: ${(err as Error).message} (removing its netns anyway)`);
    }
    await run('ip', ['netns', 'del', p.netnsName], { allowFail: true });
  }
  if (state) killQuietly(state.agentPid, 'SIGTERM');
  await waitGone(state?.agentPid);
  await t.destroy();
  fs.rmSync(SANDBOX_DIR, { recursive: true, force: true });
  log('sandbox removed');
}

function killQuietly(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

async function waitGone(pid: number | undefined): Promise<void> {
  if (!pid) return;
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  killQuietly(pid, 'SIGKILL');
}
