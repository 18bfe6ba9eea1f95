// Manifest files: multi-document YAML (or JSON, or a stream of JSON objects)
// → validated, typed Kubernetes objects. All-or-nothing: every problem in the
// file is collected and thrown together; nothing is returned from a file with
// any problem.

import { readFile } from 'node:fs/promises';
import { type Document, type ParseOptions, type DocumentOptions, type SchemaOptions, isMap, isNode, isScalar, isSeq, parseAllDocuments, parseDocument } from 'yaml';
import { InputError, errorMessage } from '../errors.ts';
import { type RawObject, describeValue, isObject } from './meta.ts';
import { AggregateInputError, Checker, FieldPath, type Problem } from './problems.ts';
import { type KubeObject, findKind, objectKey, validateObject } from './registry.ts';

export { AggregateInputError, type Problem } from './problems.ts';

/** One object-shaped document of a manifest file (a `List` contributes one per item). */
export interface ManifestDocument {
  /** 1-based position of the document in the file (empty documents count too, so `doc N` is the N-th). */
  index: number;
  /** For an object flattened from a List, its place in it: `items[0]`, `items[2].items[0]`. */
  item?: string;
  /** Display name for messages: `doc 2 (Pod default/web)`, `doc 3 items[1] (Namespace prod)`. */
  name: string;
  /** 1-based line where the object starts (absent for JSON manifests, whose lines are only looked up for problems). */
  line?: number;
  apiVersion?: string;
  kind?: string;
  body: RawObject;
  /** Line of a field of this object, for messages (the nearest existing parent when the field is absent). */
  lineOf(path: FieldPath): number | undefined;
}

export interface ParsedDocuments {
  documents: ManifestDocument[];
  /** Syntax errors and documents that are not objects. */
  problems: Problem[];
}

// YAML the way Kubernetes reads it (sigs.k8s.io/yaml, go-yaml v2): YAML 1.1
// scalars (yes/no/on/off are booleans, 0755 is octal), merge keys, but no
// sexagesimal numbers (1:20) and no timestamps (dates stay strings).
const YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: '1.1',
  merge: true,
  prettyErrors: false,
  uniqueKeys: true,
  customTags: (tags) =>
    tags.filter((t) => typeof t !== 'object' || (t.tag !== 'tag:yaml.org,2002:timestamp' && !('format' in t && t.format === 'TIME'))),
};

const MAX_ALIAS_COUNT = 100;

/** 1-based line of an offset in text. */
function lineIndex(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

function columnAt(text: string, offset: number): number {
  const nl = text.lastIndexOf('\n', offset - 1);
  return offset - nl;
}

/**
 * If text is a stream of two or more JSON objects (`{...}{...}` or one per
 * line), the [start, end) ranges of each; otherwise undefined (YAML, which
 * also covers a single JSON object).
 */
function splitJsonStream(text: string): [number, number][] | undefined {
  const chunks: [number, number][] = [];
  const ws = /\s/;
  let i = 0;
  for (;;) {
    while (i < text.length && ws.test(text[i] ?? '')) i++;
    if (i >= text.length) break;
    if (text[i] !== '{') return undefined;
    const start = i;
    let depth = 0;
    let inString = false;
    for (; i < text.length; i++) {
      const ch = text[i];
      if (inString) {
        if (ch === '\\') i++;
        else if (ch === '"') inString = false;
      } else if (ch === '"') inString = true;
      else if (ch === '{' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') {
        depth--;
        if (depth === 0) break;
      }
    }
    if (depth !== 0) return undefined;
    i++;
    chunks.push([start, i]);
  }
  return chunks.length >= 2 ? chunks : undefined;
}

interface Unit {
  doc: Document.Parsed;
  /** Offset of the unit's text in the whole source. */
  base: number;
}

function parseUnits(text: string): Unit[] {
  const chunks = splitJsonStream(text);
  if (chunks) return chunks.map(([s, e]) => ({ doc: parseDocument(text.slice(s, e), YAML_OPTIONS), base: s }));
  const docs = parseAllDocuments(text, YAML_OPTIONS);
  return Array.isArray(docs) ? docs.map((doc) => ({ doc, base: 0 })) : [];
}

function isEmptyDocument(doc: Document.Parsed): boolean {
  const c = doc.contents;
  return c === null || (isScalar(c) && c.value === null);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** `doc 2 (Pod default/web)`: kind and name from the raw object, namespace defaulted for namespaced kinds. */
export function displayName(index: number, item: string | undefined, body: RawObject): string {
  let name = `doc ${index}`;
  if (item) name += ` ${item}`;
  const kind = str(body['kind']);
  if (!kind) return name;
  const meta = isObject(body['metadata']) ? body['metadata'] : {};
  const objName = str(meta['name']);
  if (!objName) return `${name} (${kind})`;
  const namespaced = findKind(kind)?.namespaced;
  const ns = namespaced === false ? undefined : (str(meta['namespace']) ?? (namespaced ? 'default' : undefined));
  return `${name} (${kind} ${ns ? `${ns}/` : ''}${objName})`;
}

/**
 * Splits a manifest text into its object documents: empty documents are
 * skipped, `kind: List` (and typed lists such as `PodList`) are flattened
 * into their items. Syntax errors and non-object documents are returned as
 * problems; the documents are not validated against their kind here.
 */
export function parseDocuments(text: string): ParsedDocuments {
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  const documents: ManifestDocument[] = [];
  const problems: Problem[] = [];

  // Fast path: a manifest that is one JSON value (typically a List of
  // thousands of objects) is read with JSON.parse, which is two orders of
  // magnitude faster than the YAML parser. Line numbers are only needed
  // for error messages: the first one asked for parses the text as YAML.
  const json = tryJson(text);
  if (json !== undefined) {
    let slow: ((keys: (string | number)[]) => number | undefined) | undefined;
    const lineOfKeys = (keys: (string | number)[]) => {
      slow ??= unitLines(text, parseUnits(text)[0]);
      return slow(keys);
    };
    addUnit(1, json, lineOfKeys, documents, problems, false);
    return { documents, problems };
  }

  const lineOfOffset = lineIndex(text);
  parseUnits(text).forEach((unit, i) => {
    const { doc, base } = unit;
    const index = i + 1;
    const syntax = doc.errors[0];
    if (syntax) {
      // Only the first: later errors of the same document are mostly its echoes.
      const off = base + (syntax.pos[0] ?? 0);
      const line = lineOfOffset(off);
      problems.push({ document: `doc ${index}`, field: `line ${line}, column ${columnAt(text, off)}`, reason: `syntax error: ${syntax.message}`, line });
      return;
    }
    if (isEmptyDocument(doc)) return;
    const lineOfKeys = unitLines(text, unit, lineOfOffset);

    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      problems.push({ document: `doc ${index}`, field: '(root)', reason: errorMessage(err), line: lineOfKeys([]) ?? 1 });
      return;
    }
    addUnit(index, value, lineOfKeys, documents, problems);
  });
  return { documents, problems };
}

/** JSON.parse of the whole text when it is a single JSON object, else undefined. */
function tryJson(text: string): unknown {
  const t = text.trimStart();
  if (!t.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined; // a JSON stream, YAML that starts with '{', or a syntax error: the YAML path explains
  }
}

/**
 * Line of the key (for object fields) or the item (for list elements) at
 * the end of `keys` in a parsed unit; the nearest existing parent's when it
 * is absent.
 */
function unitLines(text: string, unit: Unit | undefined, lineOfOffset = lineIndex(text)): (keys: (string | number)[]) => number | undefined {
  return (keys) => {
    if (!unit) return undefined;
    let node: unknown = unit.doc.contents;
    if (!isNode(node) || !node.range) return undefined;
    let offset = node.range[0];
    for (const k of keys) {
      if (isMap(node)) {
        const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(k));
        if (!pair) break;
        if (isNode(pair.key) && pair.key.range) offset = pair.key.range[0];
        node = pair.value;
      } else if (isSeq(node) && typeof k === 'number') {
        node = node.items[k];
        if (!isNode(node) || !node.range) break;
        offset = node.range[0];
      } else break;
    }
    return lineOfOffset(unit.base + offset);
  };
}

/**
 * Adds one document's value: an object, or a List flattened into its items.
 * `eagerLines`: give every object its line (YAML); otherwise lines are only
 * looked up for problems (the JSON fast path).
 */
function addUnit(
  index: number,
  value: unknown,
  lineOfKeys: (keys: (string | number)[]) => number | undefined,
  documents: ManifestDocument[],
  problems: Problem[],
  eagerLines = true,
): void {
  const add = (body: unknown, prefix: (string | number)[], item: string | undefined): void => {
    const lineHere = () => lineOfKeys(prefix) ?? 1;
    if (!isObject(body)) {
      const where = item ? `doc ${index} ${item}` : `doc ${index}`;
      problems.push({ document: where, field: '(root)', reason: `must be an object (a YAML mapping), got ${describeValue(body)}`, line: lineHere() });
      return;
    }
    const kind = body['kind'];
    const isList = kind === 'List' || (typeof kind === 'string' && kind.endsWith('List') && kind.length > 4 && Array.isArray(body['items']));
    if (isList) {
      const items = body['items'];
      if (items === undefined || items === null) return; // an empty List
      if (!Array.isArray(items)) {
        problems.push({
          document: displayName(index, item, body),
          field: 'items',
          reason: `must be a list, got ${describeValue(items)}`,
          line: lineOfKeys([...prefix, 'items']) ?? lineHere(),
        });
        return;
      }
      // Typed lists (PodList) may leave apiVersion/kind out of their items.
      const itemKind = kind === 'List' ? undefined : (kind as string).slice(0, -4);
      items.forEach((it, j) => {
        let child: unknown = it;
        if (itemKind && isObject(it)) {
          child = { ...it };
          const c = child as RawObject;
          if (c['kind'] === undefined) c['kind'] = itemKind;
          if (c['apiVersion'] === undefined && body['apiVersion'] !== undefined) c['apiVersion'] = body['apiVersion'];
        }
        add(child, [...prefix, 'items', j], `${item ? `${item}.` : ''}items[${j}]`);
      });
      return;
    }
    const d: ManifestDocument = {
      index,
      name: displayName(index, item, body),
      body,
      lineOf: (path) => lineOfKeys([...prefix, ...path.keys()]),
    };
    if (eagerLines) d.line = lineHere();
    if (item) d.item = item;
    if (typeof body['apiVersion'] === 'string') d.apiVersion = body['apiVersion'];
    if (typeof kind === 'string') d.kind = kind;
    documents.push(d);
  };
  add(value, [], undefined);
}

/**
 * Parses and validates a whole manifest file. Returns every object, in file
 * order, or throws AggregateInputError listing every problem (syntax errors,
 * unsupported kinds, invalid fields, the same object defined twice).
 * An empty file gives `{objects: []}`.
 */
export function parseManifests(text: string, sourceName: string): { objects: KubeObject[] } {
  const { documents, problems } = parseDocuments(text);
  const objects: KubeObject[] = [];
  const seen = new Map<string, string>();
  for (const d of documents) {
    const c = new Checker(d.name, problems, d.lineOf);
    const obj = validateObject(c, d.body, { document: d.name, index: d.index, ...(d.line !== undefined ? { line: d.line } : {}) });
    if (!obj) continue;
    const key = objectKey(obj);
    const first = seen.get(key);
    if (first !== undefined) {
      c.report(FieldPath.root().child('metadata').child('name'), `duplicate: ${key} is also defined in ${first}`);
      continue;
    }
    seen.set(key, d.name);
    objects.push(obj);
  }
  if (problems.length > 0) {
    problems.sort((a, b) => docOrder(a.document) - docOrder(b.document));
    throw new AggregateInputError(sourceName, problems);
  }
  return { objects };
}

function docOrder(document: string): number {
  const m = /^doc (\d+)/.exec(document);
  return m ? Number(m[1]) : 0;
}

/**
 * Reads a manifest file, or standard input when `file` is '-'.
 * Throws InputError (code INVALID_INPUT, field `-f`) when it cannot be read.
 */
export async function readManifestText(
  file: string,
  stdin: AsyncIterable<string | Buffer> = process.stdin,
): Promise<{ text: string; sourceName: string }> {
  if (file === '-') {
    const parts: Buffer[] = [];
    for await (const chunk of stdin) parts.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    return { text: Buffer.concat(parts).toString('utf8'), sourceName: '<stdin>' };
  }
  try {
    return { text: await readFile(file, 'utf8'), sourceName: file };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file'
      : code === 'EISDIR' ? 'is a directory (give a file, or - for standard input)'
      : code === 'EACCES' ? 'permission denied'
      : errorMessage(err);
    throw new InputError('-f', `cannot read ${JSON.stringify(file)}: ${reason}`, { cause: err });
  }
}

/** readManifestText + parseManifests: what `membrane apply -f FILE` / `delete -f FILE` need. */
export async function loadManifests(file: string, stdin?: AsyncIterable<string | Buffer>): Promise<{ objects: KubeObject[]; sourceName: string }> {
  const { text, sourceName } = await readManifestText(file, stdin);
  return { ...parseManifests(text, sourceName), sourceName };
}
