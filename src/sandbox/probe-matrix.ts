// Many connectivity probes at once, run inside one pod's netns (the NetworkPolicy
// conformance model probes a whole row of its reachability matrix with one
// process):
//
//   probe-matrix JSON
//
// JSON is a ProbeMatrixRequest. Every probe starts at once; each ends when
// the answer of a pod server's --serve port came back (see pod-server.ts),
// on an error, or after timeoutMs (a packet dropped by policy shows as a
// timeout, so the whole row takes about one timeout). Prints one JSON line,
// a ProbeMatrixResponse, and exits 0 — also when probes failed; exit 2 means
// the request itself was unusable.
//
// TCP: connect, send a line, wait for the answer line. UDP: send a datagram
// and wait for the answer, sending again every retryMs (a datagram may be
// lost); an ICMP error (ECONNREFUSED) ends the probe at once. A UDP answer
// counts only when it comes from the address and port the probe sent to, as
// a connected socket (a resolver, say) would insist: an answer from another
// address is reported as an error (WRONG_SOURCE).
import dgram from 'node:dgram';
import net from 'node:net';

export interface ProbeTarget {
  /** The caller's name for the target, e.g. `x/a`; returned as is. */
  id: string;
  host: string;
  port: number;
  proto: 'tcp' | 'udp';
}

export interface ProbeMatrixRequest {
  targets: ProbeTarget[];
  /** Per probe (default 1000). */
  timeoutMs?: number;
  /** UDP: interval between sends (default 200). */
  retryMs?: number;
}

export interface ProbeOutcome extends ProbeTarget {
  ok: boolean;
  /** The pod server's answer: who answered, and the client address it saw. */
  pod?: string;
  client?: string;
  /** The address the application saw as its peer (getpeername / datagram source). */
  peer?: string;
  /** errno name on failure (ECONNREFUSED, ...), or TIMEOUT. */
  code?: string;
  error?: string;
  ms: number;
}

export interface ProbeMatrixResponse {
  results: ProbeOutcome[];
  ms: number;
}

interface Answer {
  pod?: string;
  client?: string;
  port?: number;
  proto?: string;
}

function parseAnswer(text: string): Answer | undefined {
  try {
    const v = JSON.parse(text.split('\n')[0] ?? '') as unknown;
    return typeof v === 'object' && v !== null ? (v as Answer) : undefined;
  } catch {
    return undefined;
  }
}

export function probeOne(target: ProbeTarget, timeoutMs: number, retryMs: number): Promise<ProbeOutcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    let finished = false;
    const cleanups: Array<() => void> = [];
    const finish = (fields: Partial<ProbeOutcome> & { ok: boolean }) => {
      if (finished) return;
      finished = true;
      for (const c of cleanups) c();
      resolve({ ...target, ...fields, ms: Math.round((performance.now() - started) * 10) / 10 });
    };
    const fail = (e: Error & { code?: string }) => finish({ ok: false, error: e.message, ...(e.code ? { code: e.code } : {}) });
    const timer = setTimeout(() => finish({ ok: false, code: 'TIMEOUT', error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    cleanups.push(() => clearTimeout(timer));
    const answered = (text: string, peer: string | undefined) => {
      const a = parseAnswer(text);
      if (!a?.pod) return finish({ ok: false, error: `unexpected answer ${JSON.stringify(text.slice(0, 80))}`, ...(peer ? { peer } : {}) });
      finish({ ok: true, pod: a.pod, ...(a.client ? { client: a.client } : {}), ...(peer ? { peer } : {}) });
    };

    if (target.proto === 'tcp') {
      const s = net.connect({ host: target.host, port: target.port });
      cleanups.push(() => s.destroy());
      let buf = '';
      s.on('connect', () => s.write('probe\n'));
      s.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('\n')) answered(buf, s.remoteAddress);
      });
      s.on('error', fail);
      s.on('end', () => finish({ ok: false, error: 'connection closed without an answer', code: 'EOF' }));
    } else {
      const s = dgram.createSocket('udp4');
      cleanups.push(() => {
        try {
          s.close();
        } catch {
          // closed already
        }
      });
      s.on('message', (m, r) => {
        if (r.address !== target.host || r.port !== target.port) {
          finish({ ok: false, code: 'WRONG_SOURCE', error: `answer came from ${r.address}:${r.port}, not ${target.host}:${target.port}`, peer: r.address });
          return;
        }
        answered(m.toString(), r.address);
      });
      s.on('error', fail);
      const send = () => s.send('probe\n', target.port, target.host, (err) => err && fail(err));
      send();
      const retry = setInterval(send, retryMs);
      cleanups.push(() => clearInterval(retry));
    }
  });
}

export async function probeMatrix(req: ProbeMatrixRequest): Promise<ProbeMatrixResponse> {
  const started = performance.now();
  const timeoutMs = req.timeoutMs ?? 1000;
  const retryMs = req.retryMs ?? 200;
  const results = await Promise.all(req.targets.map((t) => probeOne(t, timeoutMs, retryMs)));
  return { results, ms: Math.round(performance.now() - started) };
}

function readRequest(text: string | undefined): ProbeMatrixRequest {
  const req = JSON.parse(text ?? '') as ProbeMatrixRequest;
  if (!Array.isArray(req.targets)) throw new Error('targets must be a list');
  for (const t of req.targets) {
    if (typeof t.host !== 'string' || !Number.isInteger(t.port) || (t.proto !== 'tcp' && t.proto !== 'udp')) {
      throw new Error(`bad target ${JSON.stringify(t)}: needs host, port and proto tcp|udp`);
    }
  }
  return req;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let req: ProbeMatrixRequest;
  try {
    req = readRequest(process.argv[2]);
  } catch (err) {
    process.stderr.write(`usage: probe-matrix '{"targets":[{"id":"x/a","host":"10.96.0.10","port":80,"proto":"tcp"}],"timeoutMs":1000}': ${(err as Error).message}\n`);
    process.exit(2);
  }
  const res = await probeMatrix(req);
  process.stdout.write(`${JSON.stringify(res)}\n`);
  process.exit(0);
}
