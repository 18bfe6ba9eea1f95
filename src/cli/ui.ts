// `membrane ui`: the agent's web UI (and its metrics) on a local address of
// this shell's network namespace. The agent serves both on its own loopback
// (--ui-serve-addr, --prometheus-serve-addr); an agent that runs in another
// netns (the sandbox's node, a test node) is reachable only through its unix
// socket, where the same pages live under /ui/ and /metrics. This forwards a
// local port to them, as `cilium hubble ui` port-forwards in Kubernetes.
import http from 'node:http';
import { DEFAULT_SOCKET } from '../agent/api-types.ts';
import { listenHttp } from '../net/listen-addr.ts';
import type { Command } from './command.ts';

export interface UiProxy {
  /** http://HOST:PORT/ */
  url: string;
  close(): Promise<void>;
}

/** Serves the agent's /ui/ and /metrics (reached over `socket`) on `addr`. */
export async function startUiProxy(socket: string, addr: string): Promise<UiProxy> {
  const l = await listenHttp('--address', addr, (req, res) => {
    const url = req.url ?? '/';
    const target = url === '/metrics' || url.startsWith('/metrics?') ? url : `/ui${url}`;
    const upstream = http.request({ socketPath: socket, path: target, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    upstream.on('error', (err) => {
      if (res.headersSent) return void res.destroy();
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`the agent on ${socket} did not answer: ${err.message}\n`);
    });
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  return { url: `http://${l.address}/`, close: l.close };
}

export const uiCommand: Command = {
  name: 'ui',
  summary: "Open the agent's web UI (service map, flows) and metrics on a local address",
  usage: 'membrane ui [--address HOST:PORT]',
  description: `
The agent serves its UI on its own loopback (--ui-serve-addr, default
127.0.0.1:12000). When the agent runs in another network namespace (the
sandbox), this command serves the same UI here, through the agent's socket,
until Ctrl-C. /metrics is forwarded too.

Example:
  membrane ui --address 127.0.0.1:12001   # then open http://127.0.0.1:12001/`,
  options: {
    address: { type: 'string', value: 'HOST:PORT', help: 'where to serve', default: '127.0.0.1:12000' },
  },
  async run({ values }) {
    const socket = typeof values.socket === 'string' ? values.socket : (process.env.MEMBRANE_SOCKET ?? DEFAULT_SOCKET);
    const proxy = await startUiProxy(socket, String(values.address));
    process.stdout.write(`Membrane UI: ${proxy.url}  (metrics: ${proxy.url}metrics; Ctrl-C stops)\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    await proxy.close();
    return 0;
  },
};
