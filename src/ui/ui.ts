import Table from 'cli-table3';
import ora, { type Ora } from 'ora';

/**
 * All output goes through here. stdout carries results (tables, JSON, dry-run argv);
 * stderr carries progress, warnings and errors, so `--json | jq` always sees clean JSON.
 *
 * A live area (a spinner, the step board of ui/steps.ts) is drawn at the bottom of stderr on a terminal;
 * every message clears it first and draws it again after, so that no message lands on a live line.
 */
export interface Ui {
  readonly json: boolean;
  readonly quiet: boolean;
  /** VERBOSE=1: the tools' own output is streamed to the terminal too. */
  readonly verbose: boolean;
  /** Live lines may be drawn: stderr is a terminal, not CI, not quiet or JSON. */
  readonly live: boolean;
  /** A result line on stdout. */
  out(text: string): void;
  /** A status line on stderr (suppressed by --quiet). */
  info(text: string): void;
  warn(text: string): void;
  error(text: string): void;
  /** Emit a listing: JSON when --json, else the rendered table. */
  result(data: unknown, render: () => string): void;
  /** A progress indicator; a spinner on a TTY, plain lines otherwise. */
  progress(text: string): Progress;
  /** Colour for stderr text (nothing with NO_COLOR, TERM=dumb or no terminal). */
  paint(color: Colour, text: string): string;
  /** Draw a live area at the bottom of stderr until the returned function is called. */
  attachLive(area: LiveArea): () => void;
}

export type Colour = 'green' | 'red' | 'yellow' | 'cyan' | 'dim';

export interface LiveArea {
  /** The lines to show now (called on every redraw). */
  lines(): string[];
}

export interface Progress {
  update(text: string): void;
  succeed(text?: string): void;
  fail(text?: string): void;
}

export interface UiOptions {
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  env?: NodeJS.ProcessEnv;
}

const CODES: Record<Colour, string> = { green: '32', red: '31', yellow: '33', cyan: '36', dim: '2' };

/** NO_COLOR (any value, https://no-color.org), TERM=dumb or output that is not a terminal: no colour codes. */
export function colourAllowed(env: NodeJS.ProcessEnv, stream: { isTTY?: boolean }): boolean {
  return env.NO_COLOR === undefined && Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

export function createUi(options: UiOptions = {}): Ui {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const env = options.env ?? process.env;
  const color = colourAllowed(env, stderr);
  const paint = (colour: Colour, text: string) => (color ? `\u001b[${CODES[colour]}m${text}\u001b[0m` : text);
  const live = Boolean(stderr.isTTY) && !env.CI && !options.quiet && !options.json;
  const board = liveBoard(stderr);
  const write = (stream: NodeJS.WritableStream, text: string) => board.around(() => stream.write(text.endsWith('\n') ? text : `${text}\n`));

  return {
    json: Boolean(options.json),
    quiet: Boolean(options.quiet),
    verbose: Boolean(options.verbose),
    live,
    out: (text) => write(stdout, text),
    info: (text) => {
      if (!options.quiet) write(stderr, text);
    },
    warn: (text) => write(stderr, paint('yellow', `warning: ${text}`)),
    error: (text) => write(stderr, paint('red', `error: ${text}`)),
    result(data, render) {
      write(stdout, options.json ? JSON.stringify(data, null, 2) : render());
    },
    progress(text) {
      if (options.quiet || options.json) return silentProgress;
      // vmlab decides whether the spinner is drawn (live, from the environment it was given); ora would look at
      // the process's own CI and TERM again.
      if (live) return spinnerProgress(ora({ text, stream: stderr, color: color ? 'cyan' : false, isEnabled: true }).start(), board, paint);
      write(stderr, text);
      return linesProgress((line) => write(stderr, line));
    },
    paint,
    attachLive: (area) => board.attach(area),
  };
}

/**
 * The live area: the areas attached (each a few lines) drawn below everything else, redrawn in place.
 * A spinner (ora) draws itself; it is cleared and redrawn around messages the same way.
 */
function liveBoard(stderr: NodeJS.WritableStream & { columns?: number }) {
  const areas = new Set<LiveArea>();
  const spinners = new Set<Ora>();
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  const clear = () => {
    if (drawn) stderr.write(`\u001b[${drawn}A\r\u001b[J`);
    drawn = 0;
    for (const spinner of spinners) spinner.clear();
  };
  const draw = () => {
    const width = Math.max(20, (stderr.columns ?? 100) - 1);
    const lines = [...areas].flatMap((area) => area.lines()).map((line) => cut(line, width));
    if (lines.length) stderr.write(`${lines.join('\n')}\n`);
    drawn = lines.length;
    for (const spinner of spinners) spinner.render();
  };
  return {
    around<R>(action: () => R): R {
      if (!drawn && spinners.size === 0) return action();
      clear();
      try {
        return action();
      } finally {
        draw();
      }
    },
    attach(area: LiveArea): () => void {
      areas.add(area);
      clear();
      draw();
      timer ??= setInterval(() => {
        clear();
        draw();
      }, 250);
      timer.unref();
      return () => {
        clear();
        areas.delete(area);
        draw();
        if (areas.size === 0 && timer) {
          clearInterval(timer);
          timer = undefined;
        }
      };
    },
    spinner(spinner: Ora, on: boolean) {
      if (on) spinners.add(spinner);
      else spinners.delete(spinner);
    },
  };
}

/** A line cut to the terminal's width (counting visible characters, not colour codes). */
function cut(line: string, width: number): string {
  let visible = 0;
  let result = '';
  for (let index = 0; index < line.length; index++) {
    const escape = /^\u001b\[[0-9;]*m/.exec(line.slice(index));
    if (escape) {
      result += escape[0];
      index += escape[0].length - 1;
      continue;
    }
    if (visible >= width) break;
    result += line[index];
    visible++;
  }
  return result.includes('\u001b[') ? `${result}\u001b[0m` : result;
}

const silentProgress: Progress = { update() {}, succeed() {}, fail() {} };

function spinnerProgress(spinner: Ora, board: ReturnType<typeof liveBoard>, paint: Ui['paint']): Progress {
  board.spinner(spinner, true);
  // ora's own symbols come coloured whatever NO_COLOR says: vmlab paints its own.
  const stop = (symbol: string, text?: string) => {
    board.spinner(spinner, false);
    spinner.stopAndPersist({ symbol, text: text ?? spinner.text });
  };
  return {
    update: (text) => {
      spinner.text = text;
    },
    succeed: (text) => stop(paint('green', '✔'), text),
    fail: (text) => stop(paint('red', '✖'), text),
  };
}

function linesProgress(print: (line: string) => void): Progress {
  let last = '';
  return {
    update: (text) => {
      if (text !== last) print(text);
      last = text;
    },
    succeed: (text) => text && print(text),
    fail: (text) => text && print(text),
  };
}

/** A plain table as a string: no colours, no borders that break copy-paste. */
export function renderTable(head: string[], rows: (string | number)[][]): string {
  const table = new Table({
    head,
    style: { head: [], border: [], compact: true, 'padding-left': 0, 'padding-right': 2 },
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '',
      'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '',
    },
  });
  table.push(...rows.map((row) => row.map(String)));
  return table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}
