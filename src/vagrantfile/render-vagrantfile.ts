import { readFile } from 'node:fs/promises';
import Handlebars from 'handlebars';
import type { VagrantfileView } from './vagrantfile-view.js';

/** A Ruby single-quoted string literal: only backslash and quote are special, no interpolation. */
export function rubyString(value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`expected a string for the Vagrantfile, got ${typeof value}`);
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/** Pure: template text + view -> Vagrantfile text. Strict mode makes a missing field an error. */
export function renderVagrantfile(template: string, view: VagrantfileView): string {
  const handlebars = Handlebars.create();
  handlebars.registerHelper('ruby', rubyString);
  const compiled = handlebars.compile(template, { strict: true, noEscape: false });
  return compiled(view);
}

export async function loadTemplate(projectRoot: string): Promise<string> {
  return readFile(`${projectRoot}/Vagrantfile.hbs`, 'utf8');
}
