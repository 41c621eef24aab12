import type { Context } from '../context.js';
import { CommandError, UserError } from '../errors.js';
import type { BuildLog } from './build-log.js';
import type { BuildPlan } from './register-box.js';

/** Thrown in a dry run where the plan cannot go further without the result of a build. */
export class DryRunStop extends Error {}

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

/**
 * Before a builder script runs: a dry run prints what would run and stops there; a build needs root
 * (loop devices, mount, chroot).
 */
export function guardBuild(context: Context, plan: BuildPlan, argv: string[], kind: string): void {
  if (context.dryRun) {
    context.ui.out(['bash', ...argv].join(' '));
    context.ui.out(`vagrant box add --provider libvirt <catalog of ${plan.box} ${plan.version}>`);
    throw new DryRunStop(`would build image ${plan.name}`);
  }
  if (process.getuid?.() !== 0) {
    throw new UserError(`building the ${kind} ${plan.name} needs root (loop device, mount, chroot)`, `Run: sudo make build IMAGE=${plan.name}`);
  }
}
