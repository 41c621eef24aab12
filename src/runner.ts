import { execa } from 'execa';
import { CommandError, UserError } from './errors.js';

/**
 * The one way vmlab runs another program: always a file plus an argv array, never a shell string.
 * Adapters build the argv (pure), call run(), and parse the output (pure).
 */
export interface RunOptions {
  cwd?: string;
  /** Extra environment for the child; the rest is inherited. */
  env?: Record<string, string | undefined>;
  input?: string;
  /** 'inherit' hands the terminal to the child (vagrant ssh, vagrant up progress). */
  stdio?: 'pipe' | 'inherit';
  /** A read-only query runs even in a dry run; anything that changes state is only printed. */
  readOnly?: boolean;
  /** When false, a non-zero exit is returned, not thrown. */
  check?: boolean;
  timeoutMs?: number;
  /** Called with each line of output as it arrives (progress), when stdio is 'pipe'. */
  onLine?: (line: string) => void;
  /** Stops the program (SIGTERM); the result then has cancelled set. Only with check: false. */
  signal?: AbortSignal;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Only with check: false and timeoutMs: the program was stopped at the time limit. */
  timedOut?: boolean;
  /** Only with check: false and signal: the program was stopped on request. */
  cancelled?: boolean;
}

export interface Runner {
  run(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** True when nothing that changes state is really executed. */
  readonly dryRun: boolean;
}

export function formatArgv(file: string, args: readonly string[]): string {
  return [file, ...args].map(quoteForDisplay).join(' ');
}

/** Quote for showing to a human (and for copy-paste into a POSIX shell); never executed by us. */
function quoteForDisplay(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

export function createRunner(options: { dryRun: boolean; print: (line: string) => void; verbose?: boolean }): Runner {
  return {
    dryRun: options.dryRun,
    async run(file, args, runOptions = {}) {
      if (options.dryRun && !runOptions.readOnly) {
        options.print(formatArgv(file, args));
        return { exitCode: 0, stdout: '', stderr: '' };
      }
      if (options.verbose) options.print(`$ ${formatArgv(file, args)}`);
      return execute(file, args, runOptions);
    },
  };
}

/** How long a program's output may go on after it exited (see execute). */
const STREAM_GRACE_MS = 3000;

async function execute(file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const inherit = options.stdio === 'inherit';
  const child = execa(file, args, {
    cwd: options.cwd,
    env: options.env,
    input: options.input,
    stdin: inherit ? 'inherit' : options.input === undefined ? 'ignore' : 'pipe',
    stdout: inherit ? 'inherit' : 'pipe',
    stderr: inherit ? 'inherit' : 'pipe',
    reject: false,
    timeout: options.timeoutMs,
    cancelSignal: options.signal,
    // Ctrl-C reaches the child through the terminal's process group; give it time to clean up.
    forceKillAfterDelay: 10_000,
  });
  // Once the program has exited, its output ends: a grandchild that kept its stdout or stderr (vagrant's
  // SSH ProxyCommand through a remote libvirt host lingers while its tunnel to a halted guest times out)
  // must not hold vmlab for minutes. What the program wrote before it exited is read in the grace time.
  child.on('exit', () => {
    setTimeout(() => {
      child.stdout?.destroy();
      child.stderr?.destroy();
    }, STREAM_GRACE_MS).unref();
  });
  if (options.onLine && !inherit) {
    const onLine = options.onLine;
    for (const stream of [child.stdout, child.stderr]) {
      let buffer = '';
      stream?.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) onLine(line);
      });
    }
  }
  const result = await child;
  if (result.failed && result.exitCode === undefined) {
    if ((result as { code?: string }).code === 'ENOENT') {
      throw new UserError(`${file} is not installed (or not on PATH)`, 'Run: make setup');
    }
    if ((result.timedOut || result.isCanceled) && options.check === false) {
      const output = { stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '') };
      return { exitCode: -1, ...output, timedOut: result.timedOut, cancelled: result.isCanceled };
    }
    if (result.timedOut) {
      throw new CommandError([file, ...args], -1, `timed out after ${options.timeoutMs} ms\n${String(result.stderr ?? '')}`);
    }
    throw new CommandError([file, ...args], -1, `${result.signal ?? result.message}\n${String(result.stderr ?? '')}`);
  }
  const outcome = {
    exitCode: result.exitCode ?? 1,
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
  };
  if (options.check !== false && outcome.exitCode !== 0) {
    throw new CommandError([file, ...args], outcome.exitCode, outcome.stderr || outcome.stdout);
  }
  return outcome;
}

/**
 * A program that outlives vmlab (an ssh tunnel of a forwarded port): started detached from this terminal,
 * its output to a log file, as argv (never a shell). Returns its pid. The caller skips it in a dry run.
 */
export async function startDetached(file: string, args: readonly string[], options: { logFile: string; cwd?: string }): Promise<number | undefined> {
  const { spawn } = await import('node:child_process');
  const { closeSync, openSync } = await import('node:fs');
  const output = openSync(options.logFile, 'a');
  try {
    const child = spawn(file, [...args], { detached: true, stdio: ['ignore', output, output], cwd: options.cwd });
    // A program that cannot start (not installed) has no pid; the caller sees that, so the event is not fatal.
    child.on('error', () => undefined);
    child.unref();
    return child.pid;
  } finally {
    closeSync(output);
  }
}
