// One connectivity probe, run inside a netns:
//   probe tcp|udp|udp-who|http HOST PORT [TIMEOUT_MS]
// Prints one JSON line and exits 0 when the answer came back, 1 otherwise:
//   {"ok":true,"proto":"tcp","peer":"10.96.0.10","ms":1.2, ...}
//   {"ok":false,"proto":"tcp","error":"connect ECONNREFUSED ...","code":"ECONNREFUSED","ms":0.4}
// `peer` is the address the application sees for the other side
// (getpeername for TCP, the datagram's source for UDP): with socket LB it is
// the service address, not the backend's. http and udp-who merge the pod
// server's JSON answer ({pod, client}) into the line.
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';

const [proto, host, portText, timeoutText] = process.argv.slice(2);
const port = Number(portText);
const timeoutMs = Number(timeoutText ?? 2000);
const payload = `membrane-probe-${process.pid}`;
const started = performance.now();

function done(ok: boolean, fields: Record<string, unknown>): never {
  const ms = Math.round((performance.now() - started) * 10) / 10;
  process.stdout.write(`${JSON.stringify({ ok, proto, ...fields, ms })}\n`);
  process.exit(ok ? 0 : 1);
}

function fail(e: Error & { code?: string }): never {
  return done(false, { error: e.message, ...(e.code ? { code: e.code } : {}) });
}

setTimeout(() => done(false, { error: `timeout after ${timeoutMs} ms`, code: 'TIMEOUT' }), timeoutMs).unref();

if (proto === 'tcp') {
  const s = net.connect({ host: host!, port }, () => s.write(payload));
  s.on('data', (d) => {
    if (d.toString() === payload) done(true, { peer: s.remoteAddress, peerPort: s.remotePort });
  });
  s.on('error', fail);
} else if (proto === 'udp' || proto === 'udp-who') {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => {
    const text = m.toString();
    if (proto === 'udp' && text === payload) done(true, { peer: r.address, peerPort: r.port });
    if (proto === 'udp-who' && text.startsWith('{')) done(true, { ...(JSON.parse(text) as object), peer: r.address, peerPort: r.port });
  });
  s.on('error', fail);
  const send = () => s.send(payload, port, host!, (err) => err && fail(err));
  send();
  setInterval(send, 300).unref(); // UDP: retry a lost datagram
} else if (proto === 'http') {
  const req = http.get({ host: host!, port, path: '/', agent: false }, (res) => {
    const peer = res.socket.remoteAddress;
    let body = '';
    res.on('data', (c: Buffer) => (body += c.toString()));
    res.on('end', () => {
      try {
        done(true, { ...(JSON.parse(body) as object), peer });
      } catch {
        done(true, { body, peer });
      }
    });
  });
  req.on('error', fail);
} else {
  done(false, { error: 'usage: probe tcp|udp|udp-who|http HOST PORT [TIMEOUT_MS]' });
}
