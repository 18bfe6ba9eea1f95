import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MB_LB_SCOPE_EXT, MB_LB_SCOPE_INT, MB_SVC_F_MAGLEV } from '../datapath/abi.ts';
import { ip4ToInt } from '../net/ip4.ts';
import { BackendIds, IdAllocator } from './ids.ts';
import { buildState, emptyState, feKey, maglevTableName, planSize, planSync, type Built, type LbState } from './lbstate.ts';
import { scenario, sliceDoc, svcDoc } from './testing.ts';

function ids() {
  return { backends: new BackendIds(), revnat: new IdAllocator('rev-NAT', 1, 65535) };
}
const OPTS = { maglevSize: 251, maglevMax: 4096 };
const ep = (a: string) => `{addresses: [${a}]}`;
const web = (backends: string[], spec = '{type: NodePort, ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]}') =>
  svcDoc('web', spec) + sliceDoc('web-1', 'web', '[{name: http, port: 8080}]', backends.map(ep));

function fe(b: Built, addr: string, port: number, scope: number) {
  return b.state.frontends.get(feKey({ addr: ip4ToInt(addr), port, proto: 6, scope }));
}
/** Deep copy of a state, as the maps would hold it after a plan ran. */
function copy(s: LbState): LbState {
  const c = emptyState();
  for (const [k, f] of s.frontends) c.frontends.set(k, { ...f, head: f.head && { ...f.head }, slots: [...f.slots] });
  for (const id of s.backends.ids()) c.backends.set(id, s.backends.get(id)!);
  for (const [k, v] of s.revnat) c.revnat.set(k, { ...v });
  for (const [k, v] of s.maglev) c.maglev.set(k, v);
  return c;
}

describe('buildState: map layout and ids', () => {
  it('lays out service entries and slots per scope, one rev-NAT id per frontend for both scopes', () => {
    const b = buildState(scenario(web(['10.207.0.5', '10.207.0.6'])).desired, ids(), OPTS);
    const cip = fe(b, '10.96.7.17', 80, MB_LB_SCOPE_INT)!;
    assert.deepEqual(cip.head, { count: 2, revNat: 1, flags: 1, timeout: 0 });
    assert.deepEqual(cip.slots, [1, 2]);
    assert.equal(fe(b, '10.96.7.17', 80, MB_LB_SCOPE_EXT), undefined);
    const npExt = fe(b, '198.18.7.1', 30080, MB_LB_SCOPE_EXT)!;
    const npInt = fe(b, '198.18.7.1', 30080, MB_LB_SCOPE_INT)!;
    assert.equal(npExt.head!.revNat, 2);
    assert.equal(npInt.head!.revNat, 2);
    assert.deepEqual(b.state.revnat.get(2), { addr: ip4ToInt('198.18.7.1'), port: 30080 });
    assert.deepEqual(b.state.backends.get(1), { addr: ip4ToInt('10.207.0.5'), port: 8080, proto: 6, state: 0, flags: 0 });
    assert.equal(b.state.backends.size, 2);
  });

  it('keeps ids stable across builds; new backends get new ids, gone ones are released', () => {
    const a = ids();
    const b1 = buildState(scenario(web(['10.207.0.5', '10.207.0.6'])).desired, a, OPTS);
    const b2 = buildState(scenario(web(['10.207.0.6', '10.207.0.9'])).desired, a, OPTS);
    assert.deepEqual(fe(b1, '10.96.7.17', 80, MB_LB_SCOPE_INT)!.slots, [1, 2]);
    assert.deepEqual(fe(b2, '10.96.7.17', 80, MB_LB_SCOPE_INT)!.slots, [2, 3], '10.207.0.6 keeps 2, the new one gets 3');
    assert.equal(a.backends.get(ip4ToInt('10.207.0.5'), 8080, 6), 0, 'released');
    const b3 = buildState(scenario(web(['10.207.0.5'])).desired, a, OPTS);
    assert.deepEqual(fe(b3, '10.96.7.17', 80, MB_LB_SCOPE_INT)!.slots, [4], 'a returning backend gets a fresh id, not a recent one');
  });

  it('names one Maglev table per external frontend by its content', () => {
    const b = buildState(scenario(web(['10.207.0.5', '10.207.0.6'])).desired, ids(), OPTS);
    const name = maglevTableName(251, ['10.207.0.5:8080', '10.207.0.6:8080'], [1, 2]);
    assert.deepEqual([...b.state.maglev], [[2, name]]);
    assert.deepEqual(b.tables.get(name), { names: ['10.207.0.5:8080', '10.207.0.6:8080'], ids: [1, 2] });
    assert.match(name, /^mg[0-9a-f]{13}$/);
    assert.notEqual(maglevTableName(251, ['10.207.0.5:8080'], [1]), maglevTableName(251, ['10.207.0.5:8080'], [7]), 'ids are part of the content');
    assert.notEqual(maglevTableName(251, ['10.207.0.5:8080'], [1]), maglevTableName(509, ['10.207.0.5:8080'], [1]), 'and the size');
  });

  it('no table without backends; no Maglev beyond the outer map or the table size', () => {
    assert.equal(buildState(scenario(web([])).desired, ids(), OPTS).state.maglev.size, 0);
    const two = svcDoc('a', '{type: NodePort, ports: [{port: 80}]}') + svcDoc('b', '{type: NodePort, ports: [{port: 80}]}') +
      sliceDoc('a-1', 'a', '[{port: 80}]', [ep('10.207.0.5')]) + sliceDoc('b-1', 'b', '[{port: 80}]', [ep('10.207.0.6')]);
    const full = buildState(scenario(two).desired, ids(), { maglevSize: 251, maglevMax: 1 });
    assert.equal(full.state.maglev.size, 1);
    const ext = [...full.state.frontends.values()].filter((f) => f.scope === MB_LB_SCOPE_EXT);
    assert.deepEqual(ext.map((f) => Boolean(f.head!.flags & MB_SVC_F_MAGLEV)), [true, false]);
    assert.match(full.warnings[0]!.message, /1 external frontends get no Maglev table/);
    const tiny = buildState(scenario(web(['10.207.0.5', '10.207.0.6', '10.207.0.7'])).desired, ids(), { maglevSize: 3, maglevMax: 10 });
    assert.equal(tiny.state.maglev.size, 0);
    assert.match(tiny.warnings[0]!.message, /3 backends need a Maglev table larger than 3/);
  });
});

describe('planSync: the writes that reconcile the maps', () => {
  it('from empty maps: every entry, heads after slots', () => {
    const b = buildState(scenario(web(['10.207.0.5', '10.207.0.6'])).desired, ids(), OPTS);
    const p = planSync(emptyState(), b.state);
    assert.deepEqual(p.backendPuts, [1, 2]);
    assert.equal(p.revnatPuts.length, 2);
    assert.equal(p.slotPuts.length, 6, 'two slots in three frontend scopes');
    assert.equal(p.headPuts.length, 3);
    assert.deepEqual(p.maglevPuts.map(([id]) => id), [2]);
    assert.equal(p.svcDeletes.length + p.backendDeletes.length + p.revnatDeletes.length + p.maglevDeletes.length, 0);
  });

  it('nothing to do when the maps hold the wanted state', () => {
    const a = ids();
    const b1 = buildState(scenario(web(['10.207.0.5', '10.207.0.6'])).desired, a, OPTS);
    const b2 = buildState(scenario(web(['10.207.0.5', '10.207.0.6'])).desired, a, OPTS);
    assert.equal(planSize(planSync(copy(b1.state), b2.state)), 0);
  });

  it('a backend that leaves: count first, then its slot and its entry go', () => {
    const a = ids();
    const cur = copy(buildState(scenario(web(['10.207.0.5', '10.207.0.6'])).desired, a, OPTS).state);
    const want = buildState(scenario(web(['10.207.0.5'])).desired, a, OPTS).state;
    const p = planSync(cur, want);
    assert.equal(p.slotPuts.length, 0, 'slot 1 is unchanged');
    assert.deepEqual(p.headPuts.map((h) => h.head!.count), [1, 1, 1]);
    assert.deepEqual(p.svcDeletes.toArray().map((d) => d.slot), [2, 2, 2]);
    assert.deepEqual(p.backendDeletes, [2]);
    assert.equal(p.maglevPuts.length, 1, 'the table is rebuilt for the new set');
  });

  it('a terminating backend: its entry changes state, its slot goes, the entry stays', () => {
    const a = ids();
    const cur = copy(buildState(scenario(web(['10.207.0.5', '10.207.0.6'])).desired, a, OPTS).state);
    const doc = web([]).replace('endpoints: []', 'endpoints: [{addresses: [10.207.0.5]}, {addresses: [10.207.0.6], conditions: {ready: false, serving: true, terminating: true}}]');
    const want = buildState(scenario(doc).desired, a, OPTS).state;
    const p = planSync(cur, want);
    assert.deepEqual(p.backendPuts, [2]);
    assert.equal(want.backends.get(2)!.state, 1);
    assert.deepEqual(p.backendDeletes, []);
    assert.deepEqual(p.svcDeletes.toArray().map((d) => d.slot), [2, 2, 2]);
  });

  it('a removed service: heads first, then slots; rev-NAT, tables and backends after', () => {
    const a = ids();
    const cur = copy(buildState(scenario(web(['10.207.0.5'])).desired, a, OPTS).state);
    const want = buildState(scenario('').desired, a, OPTS).state;
    const p = planSync(cur, want);
    const slots = p.svcDeletes.toArray().map((d) => d.slot);
    assert.deepEqual(slots, [0, 0, 0, 1, 1, 1]);
    assert.deepEqual(p.revnatDeletes.sort(), [1, 2]);
    assert.deepEqual(p.maglevDeletes, [2]);
    assert.deepEqual(p.backendDeletes, [1]);
  });

  it('entries the maps hold that nobody wants are deleted; wrong ones rewritten', () => {
    const a = ids();
    const want = buildState(scenario(web(['10.207.0.5'])).desired, a, OPTS).state;
    const cur = copy(want);
    const stale = { addr: ip4ToInt('10.96.7.99'), port: 80, proto: 6, scope: MB_LB_SCOPE_INT };
    cur.frontends.set(feKey(stale), { ...stale, slots: [0, 5] }); // slots without a head
    cur.backends.set(5, { addr: 1, port: 1, proto: 6, state: 0, flags: 0 });
    const k = feKey({ addr: ip4ToInt('10.96.7.17'), port: 80, proto: 6, scope: MB_LB_SCOPE_INT });
    cur.frontends.get(k)!.head!.flags = 0;
    const p = planSync(cur, want);
    assert.deepEqual(p.svcDeletes.toArray().map((d) => `${d.addr === stale.addr ? 'stale' : '?'} ${d.slot}`), ['stale 2']);
    assert.deepEqual(p.backendDeletes, [5]);
    assert.equal(p.headPuts.length, 1);
  });
});

describe('ids', () => {
  it('BackendIds: claims survive a sweep only when acquired; freed ids are not reused at once', () => {
    const b = new BackendIds(8);
    assert.equal(b.claim(1, 80, 6, 3), true);
    assert.equal(b.claim(2, 80, 6, 3), false, 'id taken');
    assert.equal(b.claim(1, 80, 6, 4), false, 'tuple taken');
    assert.equal(b.claim(9, 80, 6, 5), true);
    assert.equal(b.acquire(1, 80, 6), 3);
    assert.equal(b.sweep(), 1, 'the claim of 9:80 nobody acquired');
    assert.equal(b.get(9, 80, 6), 0);
    assert.equal(b.acquire(7, 80, 17), 6, 'after the highest claimed id');
    assert.equal(b.acquire(8, 80, 17), 7);
    assert.equal(b.acquire(9, 80, 17), 8);
    assert.equal(b.acquire(10, 80, 17), 1, 'wraps around');
    assert.equal(b.size, 5);
  });

  it('IdAllocator: the same rules for rev-NAT ids', () => {
    const r = new IdAllocator<number>('rev-NAT', 1, 3);
    assert.equal(r.claim(100, 2), true);
    assert.equal(r.acquire(200), 3);
    assert.equal(r.acquire(300), 1);
    assert.throws(() => r.acquire(400), /no free rev-NAT id/);
    r.sweep();
    assert.equal(r.get(100), undefined, 'claimed, never acquired');
    assert.equal(r.acquire(400), 2);
  });
});
