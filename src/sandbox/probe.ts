// One connectivity probe, run inside a netns: `probe tcp|udp|http HOST PORT`.
// Prints what came back and exits 0, or prints the failure and exits 1.
import dgram from 'node:dgram';
import net from 'node:net';

const [proto, host, portText, timeoutText] = process.argv.slice(2);
const port = Number(portText);
const timeoutMs = Number(timeoutText ?? 2000);
const payload = `membrane-probe-${process.pid}`;

function done(ok: boolean, msg: string): never {
  process.stdout.write(`${msg}\n`);
  process.exit(ok ? 0 : 1);
}

setTimeout(() => done(false, `timeout after ${timeoutMs} ms`), timeoutMs).unref();

if (proto === 'tcp') {
  const s = net.connect({ host: host!, port }, () => s.write(payload));
  s.on('data', (d) => {
    if (d.toString() === payload) done(true, `tcp ok from ${s.remoteAddress}`);
  });
  s.on('error', (e) => done(false, `tcp error ${e.message}`));
} else if (proto === 'udp') {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => {
    if (m.toString() === payload) done(true, `udp ok from ${r.address}`);
  });
  s.on('error', (e) => done(false, `udp error ${e.message}`));
  const send = () => s.send(payload, port, host!);
  send();
  setInterval(send, 300).unref(); // UDP: retry a lost datagram
} else if (proto === 'http') {
  fetch(`http://${host}:${port}/`, { signal: AbortSignal.timeout(timeoutMs) })
    .then((r) => r.text())
    .then((t) => done(true, t), (e: Error) => done(false, `http error ${e.message}`));
} else {
  done(false, 'usage: probe tcp|udp|http HOST PORT [TIMEOUT_MS]');
}
