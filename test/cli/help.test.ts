import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../support/fakes.js';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await Sandbox.create();
});
afterAll(async () => sandbox.cleanup());

/** The commands `vmlab --help` lists. */
async function commands(): Promise<string[]> {
  const help = await sandbox.cli(['--help']);
  return [...help.stdout.matchAll(/^ {2}vmlab ([a-z-]+)/gm)].map((match) => match[1]!);
}

describe('vmlab --help in a pipe', () => {
  it('lists the commands, completion included, and the hidden ones not', async () => {
    const listed = await commands();
    expect(listed).toEqual(expect.arrayContaining(['create', 'up', 'snapshot', 'completion']));
    expect(listed).not.toContain('worker');
    expect(listed).not.toContain('__complete');
  });

  it('never breaks a line inside a sentence, and every option and positional has a description', async () => {
    for (const command of ['', ...(await commands())]) {
      const result = await sandbox.cli(command ? [command, '--help'] : ['--help'], { COLUMNS: '40' });
      expect(result.exitCode, command).toBe(0);
      // A wrapped help continues a description on a line indented past the option column.
      expect(result.stdout, command).not.toMatch(/^ {8,}\S/m);
      for (const line of result.stdout.split('\n').filter((text) => /^ {2}(-\w, |\s{4})?--?[\w-]+\s/.test(text) || /^ {2}[a-z]+ {2,}/.test(text))) {
        const description = line.replace(/^\s*(-\w, )?(--)?[\w-]+\s+/, '').replace(/\s*(\[[^\]]*\]\s*)*$/, '');
        expect(description, `${command || 'vmlab'}: ${line}`).not.toBe('');
      }
    }
  }, 60_000);
});
