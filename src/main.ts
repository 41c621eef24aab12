import { buildCli, type Outcome } from './cli.js';
import { CommandError, UserError } from './errors.js';
import { fileAccessError } from './file-error.js';

/**
 * The one top-level catch: turns every failure into a message and an exit code.
 * 0 ok · 1 failed · 2 bad usage or input · 130 interrupted · 70 a bug in vmlab.
 */
export async function main(argv: string[]): Promise<number> {
  const outcome: Outcome = { exitCode: 0 };
  let interrupted = false;
  // Ctrl-C reaches the child (vagrant, qemu-img) too; let it stop cleanly before we exit.
  // A second Ctrl-C exits at once.
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping after the current step (press Ctrl-C again to abort at once)\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await buildCli(argv, outcome).parseAsync();
    return interrupted ? 130 : outcome.exitCode;
  } catch (error) {
    return report(error, interrupted);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function report(error: unknown, interrupted = false): number {
  const write = (text: string) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  // A state file or folder that cannot be read or written (permissions, a read-only disk, a folder in the
  // place of a file) is the user's to fix: its path and the fix, not a crash.
  error = fileAccessError(error, { unchanged: false }) ?? error;
  if (error instanceof UserError) {
    write(`error: ${error.message}`);
    if (error.hint) write(`  next: ${error.hint}`);
    return interrupted ? 130 : error.exitCode;
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    // A disk that filled up under vmlab: what was half-written has been removed by the step that failed.
    write(`error: no space left on the device (${(error as NodeJS.ErrnoException).path ?? (error as Error).message})`);
    write('  next: free some space (make gc lists what vmlab can remove), then retry');
    return interrupted ? 130 : 1;
  }
  if (error instanceof CommandError) {
    write(`error: ${error.message}`);
    if (error.hint) write(`  next: ${error.hint}`);
    return interrupted ? 130 : 1;
  }
  write(`vmlab crashed; this is a bug in vmlab, please report it with the output below.`);
  write(error instanceof Error ? (error.stack ?? error.message) : String(error));
  return 70;
}
