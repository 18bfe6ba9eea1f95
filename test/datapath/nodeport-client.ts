// The external client of nodeport.test.ts, run inside the world netns
// (node runs it as TypeScript). Prints JSON lines.
//   http HOST PORT [LOCALPORT]   GET /, prints the pod server's answer + peer, localPort
//   udp HOST PORT [LOCALPORT]    one "who" datagram (pod server port 8081), prints the answer + peer
//   bulk HOST PORT MIB           TCP to an echo server: sends MIB MiB, prints {ok, bytes, ms} once all came back
//   hold HOST PORT               TCP to an echo server: prints {"localPort"} once
//                                connected, then writes each stdin line and prints
//                                {"echo": line} for each line echoed back
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import readline from 'node:readline';

const [mode, host, portText, localText] = process.argv.slice(2);
const port = Number(portText);
const localPort = localText ? Number(localText) : undefined;

function out(fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(fields)}\n`);
}
function fail(e: Error & { code?: string }): never {
  out({ ok: false, error: e.message, code: e.code ?? 'ERROR' });
  process.exit(1);
}
setTimeout(() => fail(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })), mode === 'hold' ? 120_000 : mode === 'bulk' ? 20_000 : 3_000).unref();

if (mode === 'http') {
  const req = http.get({ host, port, path: '/', agent: false, ...(localPort ? { localPort } : {}) }, (res) => {
    const peer = res.socket.remoteAddress;
    const lp = res.socket.localPort;
    let body = '';
    res.on('data', (c: Buffer) => (body += c.toString()));
    res.on('end', () => {
      out({ ok: true, ...(JSON.parse(body) as object), peer, localPort: lp });
      process.exit(0);
    });
  });
  req.on('error', fail);
} else if (mode === 'udp') {
  const s = dgram.createSocket('udp4');
  s.on('error', fail);
  s.on('message', (m, r) => {
    out({ ok: true, ...(JSON.parse(m.toString()) as object), peer: r.address, peerPort: r.port, localPort: s.address().port });
    process.exit(0);
  });
  s.bind(localPort ?? 0, () => {
    const send = () => s.send('who', port, host);
    send();
    setInterval(send, 300).unref();
  });
} else if (mode === 'bulk') {
  const total = Number(localText) * 1024 * 1024;
  const started = Date.now();
  let got = 0;
  const s = net.connect({ host: host!, port }, () => s.end(Buffer.alloc(total, 0x6d)));
  s.on('data', (d) => {
    got += d.length;
    if (got >= total) {
      out({ ok: got === total, bytes: got, ms: Date.now() - started });
      process.exit(0);
    }
  });
  s.on('error', fail);
} else if (mode === 'hold') {
  const s = net.connect({ host: host!, port }, () => {
    out({ ok: true, localPort: s.localPort, peer: s.remoteAddress });
    const rl = readline.createInterface({ input: process.stdin });
    rl.on('line', (line) => s.write(`${line}\n`));
    rl.on('close', () => s.end());
  });
  let buf = '';
  s.on('data', (d) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      out({ echo: buf.slice(0, i) });
      buf = buf.slice(i + 1);
    }
  });
  s.on('error', fail);
  s.on('close', () => process.exit(0));
} else {
  fail(new Error('usage: nodeport-client http|udp|bulk|hold HOST PORT [LOCALPORT|MIB]'));
}
