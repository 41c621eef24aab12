import Table from 'cli-table3';
import ora, { type Ora } from 'ora';

/**
 * All output goes through here. stdout carries results (tables, JSON, dry-run argv);
 * stderr carries progress, warnings and errors, so `--json | jq` always sees clean JSON.
 */
export interface Ui {
  readonly json: boolean;
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
}

export interface Progress {
  update(text: string): void;
  succeed(text?: string): void;
  fail(text?: string): void;
}

export interface UiOptions {
  json?: boolean;
  quiet?: boolean;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  env?: NodeJS.ProcessEnv;
}

export function createUi(options: UiOptions = {}): Ui {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const env = options.env ?? process.env;
  const color = !env.NO_COLOR && Boolean(stderr.isTTY) && env.TERM !== 'dumb';
  const paint = (code: string, text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
  const write = (stream: NodeJS.WritableStream, text: string) => stream.write(text.endsWith('\n') ? text : `${text}\n`);

  return {
    json: Boolean(options.json),
    out: (text) => write(stdout, text),
    info: (text) => {
      if (!options.quiet) write(stderr, text);
    },
    warn: (text) => write(stderr, paint('33', `warning: ${text}`)),
    error: (text) => write(stderr, paint('31', `error: ${text}`)),
    result(data, render) {
      write(stdout, options.json ? JSON.stringify(data, null, 2) : render());
    },
    progress(text) {
      if (options.quiet || options.json) return silentProgress;
      if (stderr.isTTY && !env.CI) return spinnerProgress(ora({ text, stream: stderr, color: color ? 'cyan' : false }).start());
      write(stderr, text);
      return linesProgress((line) => write(stderr, line));
    },
  };
}

const silentProgress: Progress = { update() {}, succeed() {}, fail() {} };

function spinnerProgress(spinner: Ora): Progress {
  return {
    update: (text) => {
      spinner.text = text;
    },
    succeed: (text) => spinner.succeed(text),
    fail: (text) => spinner.fail(text),
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
