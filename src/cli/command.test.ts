import { test } from 'node:test';
import assert from 'node:assert/strict';
import { helpText, parse, type Command } from './command.ts';

const cmd: Command = {
  name: 'x',
  summary: 'Do x',
  usage: 'membrane x [-o FORMAT]',
  options: { output: { type: 'string', short: 'o', help: 'format', default: 'table' } },
};

test('parses flags with defaults and positionals', () => {
  const r = parse(cmd, ['-o', 'json', 'arg']);
  assert.equal(r.values.output, 'json');
  assert.deepEqual(r.positionals, ['arg']);
  assert.equal(parse(cmd, []).values.output, 'table');
});

test('an unknown flag is an error that points at --help', () => {
  assert.throws(() => parse(cmd, ['--bogus']), /arguments: .*--bogus.* see 'membrane x --help'/);
});

test('help lists usage, options with defaults and the global ones', () => {
  const h = helpText(cmd);
  assert.match(h, /Usage: membrane x/);
  assert.match(h, /-o, --output VALUE\s+format \(default table\)/);
  assert.match(h, /--socket PATH/);
  assert.match(h, /-h, --help/);
});

test('a bare-able option alone means its bare value; with a value it takes the value', () => {
  const c: Command = { ...cmd, options: { 'is-reply': { type: 'string', bare: 'true', help: 'replies' }, port: { type: 'string', help: 'port' } } };
  assert.equal(parse(c, ['--is-reply']).values['is-reply'], 'true');
  assert.equal(parse(c, ['--is-reply', '--port', '80']).values['is-reply'], 'true');
  assert.equal(parse(c, ['--is-reply', 'false']).values['is-reply'], 'false');
  assert.equal(parse(c, ['--is-reply=false']).values['is-reply'], 'false');
  assert.equal(parse(c, ['--port', '80']).values['is-reply'], undefined);
});
