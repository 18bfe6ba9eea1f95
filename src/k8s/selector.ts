// Label selectors ({matchLabels, matchExpressions}) as policies write them,
// checked with the upstream rules (ValidateLabelSelector in
// k8s.io/apimachinery/pkg/apis/meta/v1/validation): operators In, NotIn,
// Exists, DoesNotExist; values required for In/NotIn and forbidden for
// Exists/DoesNotExist; every value a valid label value. Keys are checked and
// mapped to identity-label keys (`source:key`, see src/policy/types.ts) by
// the caller's KeyMapping: Kubernetes selectors take qualified names and
// give them a fixed prefix; Cilium selectors carry their own source.

import { type LabelRequirement, NAMESPACE_LABEL, type SelectorOperator } from '../policy/types.ts';
import { checkFields, nearest } from './fields.ts';
import { type RawObject, describeValue, isObject, isQualifiedName, isValidLabelValue, quote, readList, readObject, readString } from './meta.ts';
import type { Checker, FieldPath } from './problems.ts';

export const SELECTOR_OPERATORS: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

/** Maps a key as written to an identity-label key, or says why it is invalid. */
export type KeyMapping = (key: string) => { key: string } | { error: string };

/** Kubernetes label keys (qualified names), given `prefix`: `k8s:` for pod labels. */
export function prefixedKey(prefix: string): KeyMapping {
  return (key) => {
    const errs = isQualifiedName(key);
    return errs.length > 0 ? { error: errs.join('; ') } : { key: `${prefix}${key}` };
  };
}

/** Label sources a Cilium selector key may name. */
export const CILIUM_SOURCES = ['k8s', 'reserved', 'any'] as const;

/** Names of the reserved identities (`reserved:<name>`) that Membrane has. */
export const RESERVED_NAMES = ['host', 'world', 'unmanaged', 'health', 'init', 'remote-node', 'kube-apiserver'] as const;

const NAMESPACE_KEY = NAMESPACE_LABEL.slice('k8s:'.length);

/**
 * Cilium's selector keys: `source:key` with source k8s, reserved or any
 * (`$key` is short for `reserved:key`), or a bare key, which means
 * `any:key`. The namespace key is normalised to `k8s:io.kubernetes.pod.namespace`
 * whichever way it is written: only Kubernetes labels carry it, so
 * `any:` selects the same endpoints.
 */
export const ciliumKey: KeyMapping = (written) => {
  let source = 'any';
  let key = written;
  if (written.startsWith('$')) {
    source = 'reserved';
    key = written.slice(1);
  } else {
    const colon = written.indexOf(':');
    if (colon >= 0) {
      source = written.slice(0, colon);
      key = written.slice(colon + 1);
    }
  }
  if (!(CILIUM_SOURCES as readonly string[]).includes(source)) {
    return { error: `unsupported label source ${quote(source)}: must be ${CILIUM_SOURCES.join(', ')} (no prefix means any)` };
  }
  if (source === 'reserved') {
    if (!(RESERVED_NAMES as readonly string[]).includes(key)) {
      return { error: `unknown reserved label ${quote(key)}: must be one of ${RESERVED_NAMES.join(', ')}` };
    }
    return { key: `reserved:${key}` };
  }
  const errs = isQualifiedName(key);
  if (errs.length > 0) return { error: errs.join('; ') };
  if (key === NAMESPACE_KEY) return { key: NAMESPACE_LABEL };
  return { key: `${source}:${key}` };
};

function mustBeString(v: unknown): string {
  const hint = typeof v === 'boolean' ? '; quote it: YAML reads unquoted true/false/yes/no/on/off as booleans' : typeof v === 'number' ? '; quote it' : '';
  return `must be a string, got ${describeValue(v)}${hint}`;
}

function readKey(c: Checker, written: string, at: FieldPath, mapKey: KeyMapping): string | undefined {
  const mapped = mapKey(written);
  if ('error' in mapped) {
    c.report(at, `invalid key ${quote(written)}: ${mapped.error}`);
    return undefined;
  }
  return mapped.key;
}

function checkValue(c: Checker, v: unknown, at: FieldPath): v is string {
  if (typeof v !== 'string') {
    c.report(at, `value ${mustBeString(v)}`);
    return false;
  }
  const errs = isValidLabelValue(v);
  if (errs.length > 0) {
    c.report(at, `invalid value ${quote(v)}: ${errs.join('; ')}`);
    return false;
  }
  return true;
}

function readOperator(c: Checker, raw: RawObject, at: FieldPath): SelectorOperator | undefined {
  const op = readString(c, raw, 'operator', at, { required: true });
  if (op === undefined) return undefined;
  if ((SELECTOR_OPERATORS as readonly string[]).includes(op)) return op as SelectorOperator;
  const near = nearest(op, SELECTOR_OPERATORS);
  const hint = near ? ` (did you mean ${quote(near)}?)` : '';
  const list = SELECTOR_OPERATORS.map((o) => quote(o)).join(', ');
  c.report(at, op === '' ? `required: one of ${list}` : `not a valid selector operator ${quote(op)}: must be one of ${list}${hint}`);
  return undefined;
}

function readExpression(c: Checker, raw: RawObject, at: FieldPath, mapKey: KeyMapping): LabelRequirement | undefined {
  checkFields(c, raw, at, ['key', 'operator', 'values']);
  const written = readString(c, raw, 'key', at.child('key'), { required: true });
  let key: string | undefined;
  if (written === '') c.report(at.child('key'), 'required');
  else if (written !== undefined) key = readKey(c, written, at.child('key'), mapKey);
  const operator = readOperator(c, raw, at.child('operator'));

  const valuesAt = at.child('values');
  const list = readList(c, raw, 'values', valuesAt);
  const values: string[] = [];
  list?.forEach((v, i) => {
    if (checkValue(c, v, valuesAt.index(i))) values.push(v);
  });
  if (operator === 'In' || operator === 'NotIn') {
    if ((list?.length ?? 0) === 0) c.report(valuesAt, `required (at least one value) when operator is ${quote(operator)}`);
  } else if (operator !== undefined && (list?.length ?? 0) > 0) {
    c.report(valuesAt, `must be empty when operator is ${quote(operator)}`);
  }
  if (key === undefined || operator === undefined) return undefined;
  return { key, operator, values: operator === 'In' || operator === 'NotIn' ? values : [] };
}

export interface SelectorOptions {
  required?: boolean;
  /** Said after "required" when the selector is missing, e.g. `(use {} to select every pod of the namespace)`. */
  requiredHint?: string;
}

/**
 * Reads the label selector `obj[field]` (at `path`) into requirements:
 * matchLabels first, in the order written (each an `In` with one value),
 * then matchExpressions. Returns undefined when the selector is absent
 * (reported when required) or not an object; otherwise the requirements,
 * possibly incomplete when problems were reported.
 */
export function readSelector(c: Checker, obj: RawObject, field: string, path: FieldPath, mapKey: KeyMapping, opts: SelectorOptions = {}): LabelRequirement[] | undefined {
  const raw = obj[field];
  if (raw === undefined || raw === null) {
    if (opts.required) c.report(path, opts.requiredHint ? `required ${opts.requiredHint}` : 'required');
    return undefined;
  }
  if (!isObject(raw)) {
    c.report(path, `must be a label selector (an object with matchLabels and/or matchExpressions), got ${describeValue(raw)}`);
    return undefined;
  }
  return readSelectorObject(c, raw, path, mapKey);
}

/** readSelector for a selector that is already known to be an object (e.g. an item of fromEndpoints). */
export function readSelectorObject(c: Checker, raw: RawObject, path: FieldPath, mapKey: KeyMapping): LabelRequirement[] {
  checkFields(c, raw, path, ['matchLabels', 'matchExpressions']);
  const requirements: LabelRequirement[] = [];
  const labelsAt = path.child('matchLabels');
  const labels = readObject(c, raw, 'matchLabels', labelsAt);
  for (const [written, value] of Object.entries(labels ?? {})) {
    const at = labelsAt.key(written);
    const key = readKey(c, written, at, mapKey);
    if (checkValue(c, value, at) && key !== undefined) requirements.push({ key, operator: 'In', values: [value] });
  }
  const exprAt = path.child('matchExpressions');
  readList(c, raw, 'matchExpressions', exprAt)?.forEach((item, i) => {
    if (!isObject(item)) {
      c.report(exprAt.index(i), `must be an object, got ${describeValue(item)}`);
      return;
    }
    const r = readExpression(c, item, exprAt.index(i), mapKey);
    if (r) requirements.push(r);
  });
  return requirements;
}
