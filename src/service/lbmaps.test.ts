import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lb4Backend, lb4Key, lb4Revnat, lb4Service } from '../datapath/abi.ts';
import { ip4ToInt } from '../net/ip4.ts';
import { BACKEND_SIZE, KEY_SIZE, readBackend, readKey, REVNAT_SIZE, SVC_SIZE, writeBackend, writeHead, writeKey, writeRevnat, writeSlot } from './lbmaps.ts';

test('the fast encoders write what the abi.ts codecs write', () => {
  const key = { addr: '10.96.7.17', dport: 443, slot: 3, proto: 17, scope: 1 };
  const kb = Buffer.alloc(KEY_SIZE, 0xee);
  writeKey(kb, 0, { addr: ip4ToInt(key.addr), port: key.dport, proto: key.proto, scope: key.scope }, key.slot);
  assert.deepEqual(kb, lb4Key.encode(key));
  assert.deepEqual(readKey(kb, 0), { addr: ip4ToInt(key.addr), port: 443, slot: 3, proto: 17, scope: 1 });

  const head = Buffer.alloc(SVC_SIZE, 0xee);
  writeHead(head, 0, { count: 7, revNat: 65535, flags: 0xc1, timeout: 10800 });
  assert.deepEqual(head, lb4Service.encode({ backend_id: 0, count: 7, rev_nat_id: 65535, flags: 0xc1, affinity_timeout: 10800 }));
  const slot = Buffer.alloc(SVC_SIZE, 0xee);
  writeSlot(slot, 0, 0xfffffffe);
  assert.deepEqual(slot, lb4Service.encode({ backend_id: 0xfffffffe, count: 0, rev_nat_id: 0, flags: 0, affinity_timeout: 0 }));

  const be = { addr: '10.207.0.5', port: 8080, proto: 6, state: 2, flags: 1 };
  const bb = Buffer.alloc(BACKEND_SIZE, 0xee);
  writeBackend(bb, 0, { ...be, addr: ip4ToInt(be.addr) });
  assert.deepEqual(bb, lb4Backend.encode(be));
  assert.deepEqual(readBackend(bb, 0), { ...be, addr: ip4ToInt(be.addr) });

  const rb = Buffer.alloc(REVNAT_SIZE, 0xee);
  writeRevnat(rb, 0, { addr: ip4ToInt('198.18.7.1'), port: 30080 });
  assert.deepEqual(rb, lb4Revnat.encode({ addr: '198.18.7.1', port: 30080 }));
});
