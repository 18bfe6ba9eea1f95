import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseListenAddr } from './listen-addr.ts';

test('listen addresses are HOST:PORT', () => {
  assert.deepEqual(parseListenAddr('--address', '127.0.0.1:12000'), { host: '127.0.0.1', port: 12000 });
  assert.deepEqual(parseListenAddr('--address', '[::1]:0'), { host: '::1', port: 0 });
  assert.throws(() => parseListenAddr('--address', '12000'), /--address.*'12000' is not HOST:PORT/);
  assert.throws(() => parseListenAddr('--ui-serve-addr', 'x:70000'), /--ui-serve-addr/);
});
