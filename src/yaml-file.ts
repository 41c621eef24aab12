import { readFile } from 'node:fs/promises';
import { isMap, isNode, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue, UserError } from './errors.js';

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
    throw error;
  }
  return parseYaml(text, schema, displayName);
}

export function parseYaml<S extends z.ZodTypeAny>(text: string, schema: S, displayName: string): LoadedYaml<z.infer<S>> {
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
    throw new ConfigError(displayName, zodIssues(result.error, document, lineCounter));
  }
  return { data: result.data, document, text, lineCounter };
}

export function zodIssues(error: z.ZodError, document?: Document, lineCounter?: LineCounter): ConfigIssue[] {
  return error.issues.flatMap((issue) => {
    const base = issue.path.map(String);
    // An unknown key is reported at the key itself so that the path names it.
    const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((key) => [...base, key]) : [base];
    const message = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message;
    return paths.map((path) => {
      const position = document && lineCounter ? locate(document, lineCounter, path, issue.code === 'unrecognized_keys') : undefined;
      return { path: path.join('.'), message, ...position };
    });
  });
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
