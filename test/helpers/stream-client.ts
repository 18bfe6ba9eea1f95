// A long-running TCP stream for restart tests: connects to an echo server,
// sends a numbered message every 10 ms and checks each echo. Prints
// "rtt <count>" every 100 ms and "error <msg>" on any failure; exits on SIGTERM
// with "done <count> errors <n>".
import net from 'node:net';

const [host, port] = process.argv.slice(2);
let sent = 0;
let received = 0;
let errors = 0;
let buf = '';
const s = net.connect({ host: host!, port: Number(port) });
s.setNoDelay(true);
s.on('connect', () => {
  setInterval(() => s.write(`${sent++}\n`), 10);
  setInterval(() => process.stdout.write(`rtt ${received}\n`), 100);
});
s.on('data', (d) => {
  buf += d.toString();
  let i: number;
  while ((i = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    if (Number(line) !== received) {
      errors++;
      process.stdout.write(`error out of order: got ${line}, expected ${received}\n`);
    }
    received++;
  }
});
const fail = (msg: string) => {
  errors++;
  process.stdout.write(`error ${msg}\n`);
};
s.on('error', (e) => fail(e.message));
s.on('close', () => fail('connection closed'));
process.on('SIGTERM', () => {
  process.stdout.write(`done ${received} errors ${errors}\n`);
  process.exit(0);
});
