import assert from 'node:assert/strict';
import { test } from 'node:test';
import { portMask, portRangePrefixes, protocolName, protocolNumbers } from './ports.ts';

const show = (from: number, to: number) => portRangePrefixes(from, to).map((p) => `${p.port}/${p.bits}`);

test('portRangePrefixes: exact minimal sets', () => {
  assert.deepEqual(show(80, 80), ['80/16']);
  assert.deepEqual(show(80, 90), ['80/13', '88/15', '90/16']);
  assert.deepEqual(show(1, 65535), ['1/16', '2/15', '4/14', '8/13', '16/12', '32/11', '64/10', '128/9', '256/8', '512/7', '1024/6', '2048/5', '4096/4', '8192/3', '16384/2', '32768/1']);
  assert.deepEqual(show(32000, 32768), ['32000/8', '32256/7', '32768/16']);
  assert.deepEqual(show(0, 65535), ['0/0']);
  assert.deepEqual(show(1024, 2047), ['1024/6']);
  assert.deepEqual(show(65535, 65535), ['65535/16']);
  assert.throws(() => portRangePrefixes(10, 9), RangeError);
});

test('portRangePrefixes covers exactly the range (exhaustive check on samples)', () => {
  for (const [a, b] of [[80, 90], [1, 65535], [32000, 32768], [3, 1000], [443, 8443], [30000, 32767]] as const) {
    const ps = portRangePrefixes(a, b);
    const covered = (port: number) => ps.filter((p) => (port & portMask(p.bits)) === p.port).length;
    for (let port = 0; port <= 65535; port++) assert.equal(covered(port), port >= a && port <= b ? 1 : 0, `${a}..${b} port ${port}`);
    // minimal: no two prefixes could merge into one (siblings of equal size)
    for (const p of ps) {
      const sib = p.port ^ (1 << (16 - p.bits));
      assert.ok(p.bits === 0 || !ps.some((q) => q.bits === p.bits && q.port === sib), `${a}..${b} not minimal`);
    }
  }
});

test('protocols', () => {
  assert.deepEqual(protocolNumbers('ANY'), [6, 17, 132]);
  assert.deepEqual(protocolNumbers('UDP'), [17]);
  assert.equal(protocolName(132), 'SCTP');
  assert.equal(protocolName(1), 'ICMP');
  assert.equal(protocolName(47), '47');
  assert.equal(portMask(0), 0);
  assert.equal(portMask(13), 0xfff8);
  assert.equal(portMask(16), 0xffff);
});
