import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalStore } from './local.ts';

function tmpFile(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mb-store-')), 'store.json');
}

test('commits persist and survive a reopen', async () => {
  const file = tmpFile();
  const s = new LocalStore(file);
  await s.commit({ put: [['pods/default/a', { x: 1 }], ['pods/default/b', { x: 2 }]] });
  await s.commit({ delete: ['pods/default/a'] });
  const again = new LocalStore(file);
  assert.deepEqual(again.list('pods/'), [['pods/default/b', { x: 2 }]]);
  assert.equal(again.get('pods/default/a'), undefined);
});

test('watchers see puts and deletes under their prefix only', async () => {
  const s = new LocalStore(tmpFile());
  const seen: string[] = [];
  const stop = s.watch('pods/', (ev) => seen.push(`${ev.type} ${ev.key}`));
  await s.commit({ put: [['pods/x/y', 1], ['ns/x', 2]] });
  await s.commit({ delete: ['pods/x/y', 'pods/absent'] });
  stop();
  await s.commit({ put: [['pods/x/z', 3]] });
  assert.deepEqual(seen, ['put pods/x/y', 'delete pods/x/y']);
});

test('a failed write leaves memory unchanged and no temporary file behind', async () => {
  const file = tmpFile();
  const s = new LocalStore(file);
  await s.commit({ put: [['k', 1]] });
  // Make the rename fail: the target becomes a non-empty directory.
  fs.rmSync(file);
  fs.mkdirSync(path.join(file, 'blocker'), { recursive: true });
  await assert.rejects(s.commit({ put: [['k', 2]] }));
  assert.equal(s.get('k'), 1);
  fs.rmSync(file, { recursive: true });
  await s.commit({ put: [['k', 3]] });
  assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')).entries, { k: 3 });
  assert.deepEqual(fs.readdirSync(path.dirname(file)).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left behind');
});

test('a corrupt snapshot is reported, not silently dropped', () => {
  const file = tmpFile();
  fs.writeFileSync(file, '{ nope');
  assert.throws(() => new LocalStore(file), /not valid JSON/);
});
