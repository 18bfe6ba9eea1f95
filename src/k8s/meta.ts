// Kubernetes object metadata and the upstream validation rules for names,
// namespaces, labels and ports (k8s.io/apimachinery/pkg/util/validation).
// The rules (regexes, lengths, which checks apply) are upstream's exactly;
// the messages say the same thing in the form "must ...", so callers can put
// them after a subject: `invalid value "-x": must be empty or ...`.

import { type Checker, FieldPath } from './problems.ts';

// ---------------------------------------------------------------------------
// Pure checks: each returns the list of reasons the value is invalid (empty
// when valid), like upstream's Is* functions.

export const DNS1123_LABEL_MAX_LENGTH = 63;
export const DNS1123_SUBDOMAIN_MAX_LENGTH = 253;
export const DNS1035_LABEL_MAX_LENGTH = 63;
export const QUALIFIED_NAME_MAX_LENGTH = 63;
export const LABEL_VALUE_MAX_LENGTH = 63;
export const PORT_NAME_MAX_LENGTH = 15;

const DNS1123_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN_FMT = `${DNS1123_LABEL_FMT}(\\.${DNS1123_LABEL_FMT})*`;
const DNS1035_LABEL_FMT = '[a-z]([-a-z0-9]*[a-z0-9])?';
const QUALIFIED_NAME_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const LABEL_VALUE_FMT = `(${QUALIFIED_NAME_FMT})?`;

const dns1123LabelRe = new RegExp(`^${DNS1123_LABEL_FMT}$`);
const dns1123SubdomainRe = new RegExp(`^${DNS1123_SUBDOMAIN_FMT}$`);
const dns1035LabelRe = new RegExp(`^${DNS1035_LABEL_FMT}$`);
const qualifiedNameRe = new RegExp(`^${QUALIFIED_NAME_FMT}$`);
const labelValueRe = new RegExp(`^${LABEL_VALUE_FMT}$`);
const portNameCharsetRe = /^[-a-z0-9]+$/;
const portNameOneLetterRe = /[a-z]/;

function maxLen(n: number): string {
  return `must be no more than ${n} characters`;
}

function examples(...ex: string[]): string {
  return `(e.g. ${ex.map((e) => `'${e}'`).join(' or ')})`;
}

/** RFC 1123 label: namespace names, container names. */
export function isDNS1123Label(value: string): string[] {
  const errs: string[] = [];
  if (value.length > DNS1123_LABEL_MAX_LENGTH) errs.push(maxLen(DNS1123_LABEL_MAX_LENGTH));
  if (!dns1123LabelRe.test(value)) {
    errs.push(
      'must consist of lower case alphanumeric characters or \'-\', and must start and end with an alphanumeric character ' +
        `(a lowercase RFC 1123 label, ${examples('my-name', '123-abc').slice(1)}`,
    );
  }
  return errs;
}

/** RFC 1123 subdomain: most object names (Pods, ...). Upstream does not limit each dot-separated part. */
export function isDNS1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (value.length > DNS1123_SUBDOMAIN_MAX_LENGTH) errs.push(maxLen(DNS1123_SUBDOMAIN_MAX_LENGTH));
  if (!dns1123SubdomainRe.test(value)) {
    errs.push(
      "must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character " +
        `(a lowercase RFC 1123 subdomain, ${examples('example.com').slice(1)}`,
    );
  }
  return errs;
}

/** RFC 1035 label: Service names. */
export function isDNS1035Label(value: string): string[] {
  const errs: string[] = [];
  if (value.length > DNS1035_LABEL_MAX_LENGTH) errs.push(maxLen(DNS1035_LABEL_MAX_LENGTH));
  if (!dns1035LabelRe.test(value)) {
    errs.push(
      "must consist of lower case alphanumeric characters or '-', start with an alphabetic character, " +
        `and end with an alphanumeric character (an RFC 1035 label, ${examples('my-name', 'abc-123').slice(1)}`,
    );
  }
  return errs;
}

/**
 * Qualified name: label keys and annotation keys. An optional DNS-1123
 * subdomain prefix and '/', then a name of at most 63 characters.
 */
export function isQualifiedName(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0] ?? '';
  } else if (parts.length === 2) {
    const prefix = parts[0] ?? '';
    name = parts[1] ?? '';
    if (prefix.length === 0) errs.push("prefix part (before '/') must be non-empty");
    else for (const m of isDNS1123Subdomain(prefix)) errs.push(`prefix part (before '/') ${m}`);
  } else {
    return [
      "must be a name of alphanumeric characters, '-', '_' or '.' that starts and ends with an alphanumeric character, " +
        `with an optional DNS subdomain prefix and '/' ${examples('MyName', 'my.name', 'example.com/MyName')}`,
    ];
  }
  if (name.length === 0) {
    errs.push('name part must be non-empty');
    return errs;
  }
  if (name.length > QUALIFIED_NAME_MAX_LENGTH) errs.push(`name part ${maxLen(QUALIFIED_NAME_MAX_LENGTH)}`);
  if (!qualifiedNameRe.test(name)) {
    errs.push(
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character " +
        examples('MyName', 'my.name', '123-abc'),
    );
  }
  return errs;
}

/** Label values: at most 63 characters, empty allowed. */
export function isValidLabelValue(value: string): string[] {
  const errs: string[] = [];
  if (value.length > LABEL_VALUE_MAX_LENGTH) errs.push(maxLen(LABEL_VALUE_MAX_LENGTH));
  if (!labelValueRe.test(value)) {
    errs.push(
      "must be empty or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character " +
        examples('MyValue', 'my_value', '12345'),
    );
  }
  return errs;
}

/** Port names (IANA_SVC_NAME, RFC 6335). */
export function isValidPortName(value: string): string[] {
  const errs: string[] = [];
  if (value.length > PORT_NAME_MAX_LENGTH) errs.push(maxLen(PORT_NAME_MAX_LENGTH));
  if (!portNameCharsetRe.test(value)) errs.push('must contain only lower case alphanumeric characters (a-z, 0-9) and hyphens (-)');
  if (!portNameOneLetterRe.test(value)) errs.push('must contain at least one letter (a-z)');
  if (value.includes('--')) errs.push('must not contain consecutive hyphens');
  if (value.length > 0 && (value.startsWith('-') || value.endsWith('-'))) errs.push('must not begin or end with a hyphen');
  return errs;
}

/** Port numbers: 1..65535. */
export function isValidPortNum(port: number): string[] {
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? [] : ['must be between 1 and 65535, inclusive'];
}

/** A rule for `metadata.name`, chosen per kind. */
export type NameRule = (name: string) => string[];

// ---------------------------------------------------------------------------
// Reading untyped (parsed YAML/JSON) values, reporting type mismatches.

export type RawObject = Record<string, unknown>;

export function isObject(v: unknown): v is RawObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Describes a value's type for messages: `a list`, `a number (80)`, `a boolean (true)`. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (isObject(v)) return 'an object';
  if (typeof v === 'string') return `a string (${quote(v)})`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `a ${typeof v} (${String(v)})`;
  return `a ${typeof v}`;
}

/** JSON-quotes a value for a message, shortening long ones. */
export function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 77)}...` : s);
}

function typeMismatch(expected: string, v: unknown): string {
  let reason = `must be ${expected}, got ${describeValue(v)}`;
  if (expected === 'a string' && (typeof v === 'boolean' || typeof v === 'number')) {
    reason += typeof v === 'boolean'
      ? '; quote it: YAML reads unquoted true/false/yes/no/on/off/y/n as booleans'
      : '; quote it';
  }
  return reason;
}

interface ReadOptions {
  required?: boolean;
}

/**
 * Reads `obj[key]` (path: the field's path). Absent and null mean "not
 * set", as in Kubernetes. Reports a problem and returns undefined when the
 * value has the wrong type, or is required and missing.
 */
function read<T>(
  c: Checker,
  obj: RawObject,
  key: string,
  path: FieldPath,
  opts: ReadOptions,
  expected: string,
  accept: (v: unknown) => v is T,
): T | undefined {
  const v = obj[key];
  if (v === undefined || v === null) {
    if (opts.required) c.report(path, 'required');
    return undefined;
  }
  if (!accept(v)) {
    c.report(path, typeMismatch(expected, v));
    return undefined;
  }
  return v;
}

export function readString(c: Checker, obj: RawObject, key: string, path: FieldPath, opts: ReadOptions = {}): string | undefined {
  return read(c, obj, key, path, opts, 'a string', (v): v is string => typeof v === 'string');
}

export function readInteger(c: Checker, obj: RawObject, key: string, path: FieldPath, opts: ReadOptions = {}): number | undefined {
  return read(c, obj, key, path, opts, 'an integer', (v): v is number => typeof v === 'number' && Number.isSafeInteger(v));
}

export function readBoolean(c: Checker, obj: RawObject, key: string, path: FieldPath, opts: ReadOptions = {}): boolean | undefined {
  return read(c, obj, key, path, opts, 'a boolean', (v): v is boolean => typeof v === 'boolean');
}

export function readObject(c: Checker, obj: RawObject, key: string, path: FieldPath, opts: ReadOptions = {}): RawObject | undefined {
  return read(c, obj, key, path, opts, 'an object', isObject);
}

export function readList(c: Checker, obj: RawObject, key: string, path: FieldPath, opts: ReadOptions = {}): unknown[] | undefined {
  return read(c, obj, key, path, opts, 'a list', (v): v is unknown[] => Array.isArray(v));
}

/**
 * Reads a label map (`metadata.labels`, `matchLabels`, ...): every key a
 * qualified name, every value a string that is a valid label value.
 * Invalid entries are reported and left out.
 */
export function readLabels(c: Checker, obj: RawObject, key: string, path: FieldPath): Record<string, string> {
  const labels: Record<string, string> = {};
  const raw = readObject(c, obj, key, path);
  if (!raw) return labels;
  for (const [k, v] of Object.entries(raw)) {
    const at = path.key(k);
    const keyErrs = isQualifiedName(k);
    if (keyErrs.length > 0) {
      c.report(at, `invalid key ${quote(k)}: ${keyErrs.join('; ')}`);
      continue;
    }
    if (typeof v !== 'string') {
      c.report(at, `value ${typeMismatch('a string', v)}`);
      continue;
    }
    const valueErrs = isValidLabelValue(v);
    if (valueErrs.length > 0) {
      c.report(at, `invalid value ${quote(v)}: ${valueErrs.join('; ')}`);
      continue;
    }
    labels[k] = v;
  }
  return labels;
}

// ---------------------------------------------------------------------------
// ObjectMeta

export const DEFAULT_NAMESPACE = 'default';

export interface ObjectMeta {
  name: string;
  /** Set for namespaced kinds (defaulted to "default"); absent for cluster-scoped kinds. */
  namespace?: string;
  labels: Record<string, string>;
}

export interface MetaRules {
  namespaced: boolean;
  name: NameRule;
}

/**
 * Validates `metadata`: name (required, per-kind rule), namespace (DNS-1123
 * label, defaults to "default" for namespaced kinds, dropped for cluster-scoped
 * kinds as the API server does), labels. Annotations are ignored.
 * Always returns a best-effort value (name "" when missing) so the rest of
 * the object can still be checked; problems are reported to `c`.
 */
export function readObjectMeta(c: Checker, obj: RawObject, rules: MetaRules): ObjectMeta {
  const path = FieldPath.root().child('metadata');
  const meta = readObject(c, obj, 'metadata', path);
  if (!meta) {
    if (obj['metadata'] === undefined || obj['metadata'] === null) c.report(path.child('name'), 'required');
    return rules.namespaced ? { name: '', namespace: DEFAULT_NAMESPACE, labels: {} } : { name: '', labels: {} };
  }
  const name = readString(c, meta, 'name', path.child('name'));
  if (name === undefined || name === '') {
    if (name === '' || meta['name'] === undefined || meta['name'] === null) {
      const hint = typeof meta['generateName'] === 'string' ? ' (generateName is not supported)' : '';
      c.report(path.child('name'), `required${hint}`);
    }
  } else {
    const errs = rules.name(name);
    if (errs.length > 0) c.report(path.child('name'), `invalid name ${quote(name)}: ${errs.join('; ')}`);
  }
  let namespace: string | undefined;
  if (rules.namespaced) {
    const ns = readString(c, meta, 'namespace', path.child('namespace'));
    namespace = ns === undefined || ns === '' ? DEFAULT_NAMESPACE : ns;
    const errs = isDNS1123Label(namespace);
    if (errs.length > 0) c.report(path.child('namespace'), `invalid namespace ${quote(namespace)}: ${errs.join('; ')}`);
  }
  const labels = readLabels(c, meta, 'labels', path.child('labels'));
  return namespace === undefined ? { name: name ?? '', labels } : { name: name ?? '', namespace, labels };
}
