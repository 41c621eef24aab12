import type { Context } from '../context.js';
import { CommandError, UserError } from '../errors.js';
import type { BuildLog } from './build-log.js';

/** Structured progress of a build: the builder's current step and how far along it is. */
export type OnStep = (step: string, percent: number) => void;

/** A builder's `STEP <n>/<total> <description>` line as a step and the percent done when it starts. */
export function parseStepLine(line: string): { step: string; percent: number } | undefined {
  const match = /^STEP (\d+)\/(\d+) (.*)$/.exec(line);
  if (!match) return undefined;
  const [, n, total, description] = match;
  return { step: `${n}/${total} ${description}`, percent: Math.round(((Number(n) - 1) / Number(total)) * 100) };
}

/** Run one of scripts/image/*.sh: every line into the build log, its STEP lines as progress. */
export async function runBuilderScript(context: Context, name: string, argv: string[], log: BuildLog, onStep?: OnStep): Promise<void> {
  const progress = context.ui.progress(`building image ${name}`);
  await log.line(`$ bash ${argv.join(' ')}`);
  try {
    await context.runner.run('bash', argv, {
      onLine: (line) => {
        void log.line(line);
        const step = parseStepLine(line);
        if (!step) return;
        progress.update(`building image ${name}: step ${step.step} (${step.percent}%)`);
        onStep?.(step.step, step.percent);
      },
    });
    progress.succeed(`built image ${name}`);
  } catch (error) {
    progress.fail(`building image ${name} failed`);
    if (error instanceof CommandError) {
      throw new UserError(`building image ${name} failed (exit ${error.exitCode})${CommandError.tail(error.stderr, 8)}`, `Full log: ${log.file}`);
    }
    throw error;
  }
}
