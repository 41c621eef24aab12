import type { Context } from '../context.js';
import { CommandError, UserError } from '../errors.js';
import type { BuildLog } from './build-log.js';
import { plannedVersion, type BuildPlan } from './register-box.js';

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

/**
 * A builder's `PROGRESS <percent>` line (how far the current step is, e.g. a disk conversion), rounded
 * down to tens so that a log without a terminal gets ten lines, not a hundred.
 */
export function parseProgressLine(line: string): number | undefined {
  const match = /^PROGRESS (\d{1,3})$/.exec(line);
  return match ? Math.min(100, Math.floor(Number(match[1]) / 10) * 10) : undefined;
}

/** Run one of scripts/image/*.sh: every line into the build log, its STEP and PROGRESS lines as progress. */
export async function runBuilderScript(
  context: Context,
  name: string,
  argv: string[],
  log: BuildLog,
  onStep?: OnStep,
  /** What the progress line says is happening. */
  doing = `building image ${name}`,
): Promise<void> {
  const progress = context.ui.progress(doing);
  await log.line(`$ bash ${argv.join(' ')}`);
  let current = '';
  try {
    await context.runner.run('bash', argv, {
      onLine: (line) => {
        const within = parseProgressLine(line);
        if (within !== undefined) {
          if (current) progress.update(`${doing}: step ${current}: ${within}%`);
          return;
        }
        void log.line(line);
        const step = parseStepLine(line);
        if (!step) return;
        current = step.step;
        progress.update(`${doing}: step ${step.step} (${step.percent}%)`);
        onStep?.(step.step, step.percent);
      },
    });
    progress.succeed(`${doing}: done`);
  } catch (error) {
    progress.fail(`${doing}: failed`);
    if (error instanceof CommandError) {
      throw new UserError(`${doing} failed (exit ${error.exitCode})${CommandError.tail(error.stderr, 8)}`, `Full log: ${log.file}`);
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
    context.ui.out(`vagrant box add --provider libvirt <catalog of ${plan.box} ${plannedVersion(plan)}>`);
    throw new DryRunStop(`would build image ${plan.name}`);
  }
  if (process.getuid?.() !== 0) {
    throw new UserError(`building the ${kind} ${plan.name} needs root (loop device, mount, chroot)`, `Run: sudo make build IMAGE=${plan.name}`);
  }
}
