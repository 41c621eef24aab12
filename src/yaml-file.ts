import { readFile } from 'node:fs/promises';
import { isMap, isNode, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { ConfigError, type ConfigIssue, UserError } from './errors.js';
import { fileAccessError } from './file-error.js';

/**
 * Read a YAML file and validate it against a schema. Syntax errors and schema violations are
 * reported together, each with its line and column, as one ConfigError.
 */
export interface LoadedYaml<T> {
  data: T;
  document: Document;
  text: string;
  lineCounter: LineCounter;
}

export async function loadYamlFile<S extends z.ZodTypeAny>(
  file: string,
  schema: S,
  displayName = file,
): Promise<LoadedYaml<z.infer<S>>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`${displayName}: no such file`);
    throw fileAccessError(error, { what: displayName, verb: 'read', file }) ?? error;
  }
  return parseYaml(text, schema, displayName);
}

export function parseYaml<S extends z.ZodTypeAny>(text: string, schema: S, displayName: string, wholeFileHint?: string): LoadedYaml<z.infer<S>> {
  // Binary bytes (an image, a compressed file saved over it) parse as a YAML string and would be
  // reported as "expected object"; say what the file is instead.
  if (text.includes('\u0000') || text.includes('\uFFFD')) {
    throw new ConfigError(displayName, [{ path: '', message: 'this is not a text file (it holds binary data); it must be YAML text' }], wholeFileHint);
  }
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      displayName,
      document.errors.map((error) => {
        const position = error.linePos?.[0];
        return { path: '', message: firstLine(error.message), line: position?.line, column: position?.col };
      }),
      'Fix the YAML syntax at the line shown.',
    );
  }
  const result = schema.safeParse(document.toJS() ?? {});
  if (!result.success) {
    const issues = zodIssues(result.error, document, lineCounter, schema);
    throw new ConfigError(displayName, issues, issues.some((issue) => issue.path === '') ? wholeFileHint : undefined);
  }
  return { data: result.data, document, text, lineCounter };
}

export function zodIssues(error: z.ZodError, document?: Document, lineCounter?: LineCounter, schema?: z.ZodTypeAny): ConfigIssue[] {
  return error.issues.flatMap((issue) => {
    const base = issue.path.map(String);
    // An unknown key is reported at the key itself so that the path names it.
    const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((key) => [...base, key]) : [base];
    const known = issue.code === 'unrecognized_keys' && schema ? fieldsAt(schema, base) : [];
    const message = (key: string | undefined) => {
      if (issue.code === 'unrecognized_keys') {
        const near = key === undefined ? undefined : closest(key, known);
        return near ? `unknown field; did you mean ${near}?` : known.length ? `unknown field (known: ${known.join(', ')})` : 'unknown field';
      }
      // The whole file is a list or a bare value: it must be a map of fields.
      if (issue.code === 'invalid_type' && base.length === 0 && issue.expected === 'object') {
        return `the file must be a map of fields (lines such as "name: ..."), not ${issue.received === 'array' ? 'a list' : `a ${issue.received}`}`;
      }
      return issue.message;
    };
    return paths.map((path) => {
      const position = document && lineCounter ? locate(document, lineCounter, path, issue.code === 'unrecognized_keys') : undefined;
      return { path: path.join('.'), message: message(issue.code === 'unrecognized_keys' ? path.at(-1) : undefined), ...position };
    });
  });
}

/** The field names an object schema allows at a path (through defaults, effects, records and arrays). */
function fieldsAt(schema: z.ZodTypeAny, path: string[]): string[] {
  let current: z.ZodTypeAny | undefined = schema;
  for (let depth = 0; current && depth <= path.length; ) {
    if (current instanceof z.ZodEffects) current = current.innerType();
    else if (current instanceof z.ZodDefault) current = current._def.innerType;
    else if (current instanceof z.ZodOptional || current instanceof z.ZodNullable) current = current.unwrap();
    else if (depth === path.length) break;
    else if (current instanceof z.ZodObject) current = (current.shape as Record<string, z.ZodTypeAny>)[path[depth++]!];
    else if (current instanceof z.ZodRecord) (current = current.valueSchema), depth++;
    else if (current instanceof z.ZodArray) (current = current.element), depth++;
    else return [];
  }
  return current instanceof z.ZodObject ? Object.keys(current.shape) : [];
}

/** The known name a typo most likely meant: at most two edits away (machins -> machines). */
export function closest(word: string, known: string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(word.toLowerCase(), name.toLowerCase());
    if (distance <= Math.min(2, Math.max(1, Math.floor(name.length / 3))) && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  // Levenshtein with swapped neighbours as one edit (nmae -> name).
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, index) => index)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, rows[i - 2]![j - 2]! + 1);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

/** Where a field is in the file (the nearest existing parent when it is absent). */
export function locate(document: Document, lineCounter: LineCounter, path: string[], atKey = false): { line: number; column: number } | undefined {
  if (atKey) {
    const parent = path.length > 1 ? document.getIn(path.slice(0, -1), true) : document.contents;
    const pair = isMap(parent) ? parent.items.find((item) => isScalar(item.key) && String(item.key.value) === path.at(-1)) : undefined;
    if (pair && isNode(pair.key) && pair.key.range) {
      const { line, col } = lineCounter.linePos(pair.key.range[0]);
      return { line, column: col };
    }
  }
  for (let depth = path.length; depth > 0; depth--) {
    const node = document.getIn(path.slice(0, depth), true);
    if (isNode(node) && node.range) {
      const { line, col } = lineCounter.linePos(node.range[0]);
      return { line, column: col };
    }
  }
  return undefined;
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}
