// Collecting validation problems across a whole manifest file, so that one
// run reports every mistake (not just the first) and nothing is returned
// unless the whole file is valid.

import { MembraneError } from '../errors.ts';

/** One problem in one document: where (document + field) and why. */
export interface Problem {
  /** Display name of the document, e.g. `doc 2 (Pod default/web)`. */
  document: string;
  /** Field path inside the document, e.g. `metadata.labels["app"]`, or `line 4, column 7` for syntax errors. */
  field: string;
  reason: string;
  /** 1-based line in the source text, when known. */
  line?: number;
}

export type PathSegment =
  | { readonly type: 'field'; readonly name: string }
  | { readonly type: 'index'; readonly index: number }
  | { readonly type: 'key'; readonly key: string };

/**
 * An immutable field path, printed the way users write it:
 * `spec.containers[0].ports[1].name`, `metadata.labels["app"]`.
 */
export class FieldPath {
  readonly segments: readonly PathSegment[];

  constructor(segments: readonly PathSegment[] = []) {
    this.segments = segments;
  }

  static root(): FieldPath {
    return new FieldPath();
  }

  /** A named field of an object (`.name`). */
  child(name: string): FieldPath {
    return new FieldPath([...this.segments, { type: 'field', name }]);
  }

  /** An element of a list (`[3]`). */
  index(index: number): FieldPath {
    return new FieldPath([...this.segments, { type: 'index', index }]);
  }

  /** An entry of a string map such as labels (`["app"]`). */
  key(key: string): FieldPath {
    return new FieldPath([...this.segments, { type: 'key', key }]);
  }

  /** The path as plain keys (strings and numbers), e.g. to look a node up in a YAML document. */
  keys(): (string | number)[] {
    return this.segments.map((s) => (s.type === 'field' ? s.name : s.type === 'key' ? s.key : s.index));
  }

  toString(): string {
    if (this.segments.length === 0) return '(root)';
    let out = '';
    for (const s of this.segments) {
      if (s.type === 'field') out += out === '' ? s.name : `.${s.name}`;
      else if (s.type === 'index') out += `[${s.index}]`;
      else out += `[${JSON.stringify(s.key)}]`;
    }
    return out;
  }
}

/**
 * Collects the problems of one document. Validators report through it and
 * carry on, so that every problem of a file is found in one pass.
 */
export class Checker {
  /** Display name of the document being checked. */
  readonly document: string;
  readonly problems: Problem[];
  private readonly lineOf: (path: FieldPath) => number | undefined;

  constructor(document: string, problems: Problem[] = [], lineOf: (path: FieldPath) => number | undefined = () => undefined) {
    this.document = document;
    this.problems = problems;
    this.lineOf = lineOf;
  }

  report(path: FieldPath, reason: string): void {
    const line = this.lineOf(path);
    const p: Problem = { document: this.document, field: path.toString(), reason };
    if (line !== undefined) p.line = line;
    this.problems.push(p);
  }

  /** Number of problems recorded so far (shared with other documents of the file). */
  get count(): number {
    return this.problems.length;
  }
}

/** Formats a problem the way `InputError` does: `doc 2 (Pod default/web): metadata.name: reason`. */
export function formatProblem(p: Problem): string {
  return `${p.document}: ${p.field}: ${p.reason}`;
}

/**
 * Every problem found in a manifest file. Code `INVALID_INPUT`;
 * `details.errors` lists `{document, field, reason, line?}`.
 */
export class AggregateInputError extends MembraneError {
  readonly source: string;
  readonly problems: readonly Problem[];

  constructor(source: string, problems: readonly Problem[]) {
    const n = problems.length;
    const head = `${source}: ${n} ${n === 1 ? 'error' : 'errors'}`;
    super('INVALID_INPUT', [head, ...problems.map((p) => `  ${formatProblem(p)}`)].join('\n'), {
      details: { source, errors: problems.map((p) => ({ ...p })) },
    });
    this.name = 'AggregateInputError';
    this.source = source;
    this.problems = problems;
  }
}
