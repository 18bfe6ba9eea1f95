import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
  isValidPortName,
  isValidPortNum,
  readLabels,
  readObjectMeta,
} from './meta.ts';
import { Checker, FieldPath } from './problems.ts';

const ok = (errs: string[]): void => assert.deepEqual(errs, []);
const bad = (errs: string[], re?: RegExp): void => {
  assert.ok(errs.length > 0, 'expected an error');
  if (re) assert.ok(errs.some((e) => re.test(e)), `no message matches ${re}: ${errs.join(' | ')}`);
};

describe('isDNS1123Label', () => {
  it('accepts upstream valid values', () => {
    for (const v of ['a', 'ab', 'abc', 'a1', 'a-1', 'a--1--2--b', '0', '01', '0-1', 'a'.repeat(63)]) ok(isDNS1123Label(v));
  });
  it('rejects upstream invalid values', () => {
    for (const v of ['', 'A', 'ABC', 'aBc', 'A1', 'A-1', '1-A', '-', 'a-', '-a', '1-', '-1', '_', 'a_', '_a', 'a_b', '1_', '_1', '1_2', '.', 'a.', '.a', 'a.b', '1.', '.1', '1.2', ' ', 'a ', ' a', 'a b', '1 ', ' 1', '1 2']) {
      bad(isDNS1123Label(v));
    }
  });
  it('limits length to 63', () => {
    bad(isDNS1123Label('a'.repeat(64)), /no more than 63 characters/);
  });
});

describe('isDNS1123Subdomain', () => {
  it('accepts upstream valid values', () => {
    for (const v of ['a', 'ab', 'a1', 'a-1', 'a.a', 'a.1', 'a--1--2--b', '0', '0.a', 'a.b.c.d.e', 'aaa.bbb.ccc', 'a'.repeat(253), `${'a'.repeat(100)}.${'b'.repeat(100)}`]) {
      ok(isDNS1123Subdomain(v));
    }
  });
  it('rejects upstream invalid values', () => {
    for (const v of ['', 'A', 'ABC', 'aBc', '-', 'a-', '-a', '_', 'a_b', '.', 'a.', '.a', 'a..b', 'a.-b', 'a-.b', 'a b', '1-.2', 'a/b']) {
      bad(isDNS1123Subdomain(v));
    }
  });
  it('limits length to 253 (and not each part: upstream does not)', () => {
    bad(isDNS1123Subdomain('a'.repeat(254)), /no more than 253 characters/);
    ok(isDNS1123Subdomain('a'.repeat(64)));
  });
});

describe('isDNS1035Label', () => {
  it('must start with a letter', () => {
    ok(isDNS1035Label('my-svc'));
    ok(isDNS1035Label('a1'));
    bad(isDNS1035Label('1a'));
    bad(isDNS1035Label('a.b'));
  });
});

describe('isQualifiedName (label keys)', () => {
  it('accepts upstream valid values', () => {
    for (const v of [
      'simple',
      'now-with-dashes',
      '1-starts-with-num',
      '1234',
      'simple/simple',
      'now-with-dashes/simple',
      'now-with-dashes/now-with-dashes',
      'now.with.dots/simple',
      'now-with.dashes-and.dots/simple',
      '1-num.2-num/3-num',
      '1234/5678',
      '1.2.3.4/5678',
      'Uppercase_Is_OK_123',
      'example.com/Uppercase_Is_OK_123',
      'requests.storage-foo',
      'a'.repeat(63),
      `${'a'.repeat(253)}/${'b'.repeat(63)}`,
      'kubernetes.io/metadata.name',
      'app.kubernetes.io/name',
    ]) {
      ok(isQualifiedName(v));
    }
  });
  it('rejects upstream invalid values', () => {
    for (const v of [
      '',
      'nospecialchars%^=@',
      'cantendwithadash-',
      '-cantstartwithadash-',
      'only/one/slash',
      'Example.com/abc',
      'example_com/user',
      'example.com/',
      '/simple',
      'example.com/-dash',
      'a'.repeat(64),
      `${'a'.repeat(254)}/abc`,
      'a b',
      'a:b',
    ]) {
      bad(isQualifiedName(v));
    }
  });
  it('explains which part is wrong', () => {
    bad(isQualifiedName('/abc'), /prefix part .* must be non-empty/);
    bad(isQualifiedName('Example.com/abc'), /prefix part/);
    bad(isQualifiedName('example.com/'), /name part must be non-empty/);
    bad(isQualifiedName(`example.com/${'b'.repeat(64)}`), /name part must be no more than 63 characters/);
    bad(isQualifiedName('a/b/c'), /optional DNS subdomain prefix/);
  });
});

describe('isValidLabelValue', () => {
  it('accepts upstream valid values, including empty', () => {
    for (const v of ['', 'simple', 'now-with-dashes', '1-starts-with-num', 'end-with-num-1', '1234', 'a-b_c.d', 'Uppercase', 'a'.repeat(63)]) {
      ok(isValidLabelValue(v));
    }
  });
  it('rejects upstream invalid values', () => {
    for (const v of ['nospecialchars%^=@', 'Tama-nui-te-rā.Tama-nui-te-rā', '-leading-dash', 'trailing-dash-', '_under', 'dot.', 'a/b', 'a b', 'a'.repeat(64)]) {
      bad(isValidLabelValue(v));
    }
    bad(isValidLabelValue('a'.repeat(64)), /no more than 63 characters/);
  });
});

describe('isValidPortName (IANA_SVC_NAME)', () => {
  it('accepts valid names', () => {
    for (const v of ['http', 'h', 'dns-tcp', 'a1', '1a', 'a-1-b', 'abcdefghijklmno']) ok(isValidPortName(v));
  });
  it('rejects invalid names with the upstream reasons', () => {
    bad(isValidPortName('abcdefghijklmnop'), /no more than 15 characters/);
    bad(isValidPortName('HTTP'), /only lower case alphanumeric/);
    bad(isValidPortName('http_alt'), /only lower case alphanumeric/);
    bad(isValidPortName('1234'), /at least one letter/);
    bad(isValidPortName('a--b'), /consecutive hyphens/);
    bad(isValidPortName('-http'), /begin or end with a hyphen/);
    bad(isValidPortName('http-'), /begin or end with a hyphen/);
    bad(isValidPortName(''));
  });
});

describe('isValidPortNum', () => {
  it('is 1..65535', () => {
    ok(isValidPortNum(1));
    ok(isValidPortNum(65535));
    bad(isValidPortNum(0));
    bad(isValidPortNum(65536));
    bad(isValidPortNum(-1));
    bad(isValidPortNum(80.5));
  });
});

describe('readLabels', () => {
  it('keeps valid labels and reports each invalid entry with its key in the path', () => {
    const c = new Checker('doc 1 (Pod default/x)');
    const labels = readLabels(c, { labels: { app: 'web', 'example.com/tier': '', bad: '-x', 'a b': 'v', on: true, ver: 1.5 } }, 'labels', FieldPath.root().child('metadata').child('labels'));
    assert.deepEqual(labels, { app: 'web', 'example.com/tier': '' });
    assert.deepEqual(
      c.problems.map((p) => p.field),
      ['metadata.labels["bad"]', 'metadata.labels["a b"]', 'metadata.labels["on"]', 'metadata.labels["ver"]'],
    );
    assert.match(c.problems[0]?.reason ?? '', /^invalid value "-x": must be empty or consist of/);
    assert.match(c.problems[1]?.reason ?? '', /^invalid key "a b": name part must consist/);
    assert.match(c.problems[2]?.reason ?? '', /^value must be a string, got a boolean \(true\); quote it/);
    assert.match(c.problems[3]?.reason ?? '', /^value must be a string, got a number \(1\.5\); quote it/);
  });
  it('treats null as no labels and rejects a non-map', () => {
    const c = new Checker('d');
    assert.deepEqual(readLabels(c, { labels: null }, 'labels', FieldPath.root().child('labels')), {});
    assert.equal(c.count, 0);
    readLabels(c, { labels: ['a'] }, 'labels', FieldPath.root().child('labels'));
    assert.match(c.problems[0]?.reason ?? '', /must be an object, got a list/);
  });
});

describe('readObjectMeta', () => {
  const pod = { namespaced: true, name: isDNS1123Subdomain };
  const ns = { namespaced: false, name: isDNS1123Label };

  it('defaults the namespace of namespaced kinds to "default"', () => {
    const c = new Checker('d');
    assert.deepEqual(readObjectMeta(c, { metadata: { name: 'web' } }, pod), { name: 'web', namespace: 'default', labels: {} });
    assert.deepEqual(readObjectMeta(c, { metadata: { name: 'web', namespace: '' } }, pod), { name: 'web', namespace: 'default', labels: {} });
    assert.deepEqual(readObjectMeta(c, { metadata: { name: 'web', namespace: 'prod' } }, pod), { name: 'web', namespace: 'prod', labels: {} });
    assert.equal(c.count, 0);
  });

  it('drops metadata.namespace on cluster-scoped kinds, as the API server does', () => {
    const c = new Checker('d');
    assert.deepEqual(readObjectMeta(c, { metadata: { name: 'prod', namespace: 'x' } }, ns), { name: 'prod', labels: {} });
    assert.equal(c.count, 0);
  });

  it('uses the kind rule for names: Pods allow dots, Namespaces do not', () => {
    const c = new Checker('d');
    readObjectMeta(c, { metadata: { name: 'web.v1' } }, pod);
    assert.equal(c.count, 0);
    readObjectMeta(c, { metadata: { name: 'web.v1' } }, ns);
    assert.equal(c.count, 1);
    assert.equal(c.problems[0]?.field, 'metadata.name');
    assert.match(c.problems[0]?.reason ?? '', /^invalid name "web\.v1": .*RFC 1123 label/);
  });

  it('requires a name, mentions generateName, validates the namespace', () => {
    const c = new Checker('d');
    readObjectMeta(c, {}, pod);
    readObjectMeta(c, { metadata: { generateName: 'web-' } }, pod);
    readObjectMeta(c, { metadata: { name: 'x', namespace: 'Prod' } }, pod);
    assert.deepEqual(
      c.problems.map((p) => `${p.field}: ${p.reason.slice(0, 41)}`),
      ['metadata.name: required', 'metadata.name: required (generateName is not supported)', 'metadata.namespace: invalid namespace "Prod": must consist of'],
    );
  });
});
