import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createUi } from '../../src/ui/ui.js';

/** A terminal as ora and the live area see it: isTTY, a width, and the cursor calls readline makes. */
function fakeTerminal() {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  }) as Writable & { isTTY: boolean; columns: number; cursorTo(x: number): boolean; clearLine(dir: number): boolean; moveCursor(dx: number, dy: number): boolean };
  stream.isTTY = true;
  stream.columns = 80;
  stream.cursorTo = (x) => ((text += `\u001b[${x + 1}G`), true);
  stream.clearLine = () => ((text += '\u001b[2K'), true);
  stream.moveCursor = (_dx, dy) => ((text += dy < 0 ? `\u001b[${-dy}A` : ''), true);
  return { stream, text: () => text };
}

describe('the spinner and messages', () => {
  it('a message written while the spinner runs gets a line of its own, and the spinner goes on below it', () => {
    const terminal = fakeTerminal();
    const ui = createUi({ stderr: terminal.stream, stdout: terminal.stream, env: { TERM: 'xterm' } });
    const progress = ui.progress('building debian-12');
    ui.warn('the cache is full');
    progress.succeed('debian-12 built');
    const output = terminal.text();
    // The warning starts after the spinner's line has been cleared, and ends its own line.
    const warning = output.indexOf('warning: the cache is full');
    expect(warning).toBeGreaterThan(-1);
    expect(output.slice(0, warning)).toMatch(/\u001b\[2K(\u001b\[\d*[GAm])*$/);
    expect(output.slice(warning)).toMatch(/^warning: the cache is full(\u001b\[0m)?\n/);
    expect(output).toMatch(/✔(\u001b\[0m)? debian-12 built\n/);
    // Nothing of the spinner is drawn after its last line.
    expect(output.slice(output.indexOf("debian-12 built"))).not.toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/);
  });

  it('NO_COLOR removes every colour code, the final tick included', () => {
    const terminal = fakeTerminal();
    const ui = createUi({ stderr: terminal.stream, stdout: terminal.stream, env: { TERM: 'xterm', NO_COLOR: '1' } });
    const progress = ui.progress('building');
    ui.warn('slow');
    progress.succeed('built');
    ui.progress('again').fail('failed');
    ui.error('it broke');
    expect(terminal.text()).not.toMatch(/\u001b\[(3\d|9\d|1|2)m/);
    expect(terminal.text()).toContain('✔ built');
    expect(terminal.text()).toContain('✖ failed');
  });

  it('with colour allowed the tick is green', () => {
    const terminal = fakeTerminal();
    createUi({ stderr: terminal.stream, stdout: terminal.stream, env: { TERM: 'xterm' } }).progress('x').succeed('done');
    expect(terminal.text()).toContain('\u001b[32m✔\u001b[0m done');
  });
});
