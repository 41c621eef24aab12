import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VAGRANT_ENV } from '../adapters/vagrant.js';
import { Virsh } from '../adapters/virsh.js';
import type { Context } from '../context.js';
import { CommandError } from '../errors.js';
import { JobLog } from '../queue/job-log.js';
import { StepBoard } from '../ui/steps.js';
import { renderTable } from '../ui/ui.js';
import { isVagrantWarning } from '../ui/vagrant-phases.js';
import { watchBoot, type Stall } from './boot-watch.js';

/**
 * Several machines at once: one vagrant process per machine, its output kept in a log file per machine
 * and shown as steps (ui/steps.ts: "web  boot  ✔ 31 s"), and an outcome per machine at the end. With
 * VERBOSE=1 vagrant's own output is streamed as well: one machine's straight to the terminal, a group's
 * with each line prefixed by the machine's name.
 *
 * vagrant-libvirt races when two processes create the same thing: the box volume in the pool (both
 * upload it) and a libvirt network (both define it). A machine that would create such a thing goes
 * alone until its domain runs (by then the box is uploaded and its networks exist); the others start
 * at once.
 *
 * With watchBoot, each machine's domain is watched while vagrant brings it up, and vagrant is stopped
 * when the domain stalls (boot-watch.ts): the outcome then says why instead of failing 15 minutes later.
 */

export interface MachineRun {
  name: string;
  domain: string;
  args: string[];
  /** Things this run would create if they are missing: a key ("box:<volume prefix>") and words for people. */
  creates?: { key: string; label: string }[];
  /** How many provisioners the machine has ("provision docker 2/3"), when known. */
  provisioners?: number;
}

export interface RunOutcome {
  name: string;
  domain: string;
  ok: boolean;
  exitCode: number;
  seconds: number;
  log: string;
  /** The last lines of its output, for the failure report. */
  tail: string[];
  /** The step it failed in ("provision docker 2/3"), when the step display followed it. */
  step?: string;
  /** Why vmlab stopped vagrant: the domain stalled (paused, crashed, stopped) while coming up. */
  stall?: Stall;
}

export async function runMachines(
  context: Context,
  action: string,
  runs: MachineRun[],
  options: { missing?: ReadonlySet<string>; pollMs?: number; watchBoot?: boolean; steps?: StepBoard } = {},
): Promise<RunOutcome[]> {
  // A dry run only prints each argv, in order, and writes no log.
  if (context.dryRun) {
    for (const run of runs) await context.runner.run('vagrant', run.args, { cwd: context.labDir, env: VAGRANT_ENV, check: false });
    return runs.map((run) => ({ name: run.name, domain: run.domain, ok: true, exitCode: 0, seconds: 0, log: '', tail: [] }));
  }
  const pending = new Set(options.missing ?? []);
  const started: Promise<RunOutcome>[] = [];
  const width = Math.max(...runs.map((run) => run.name.length));
  const verbose = context.ui.verbose;
  const board = verbose ? undefined : (options.steps ?? (await StepBoard.open(context.ui, context.home, { action, names: runs.map((run) => run.name) })));
  try {
    for (const run of runs) {
      const leads = (run.creates ?? []).filter((thing) => pending.has(thing.key));
      // VERBOSE=1 and one machine alone: vagrant's own output straight on the terminal, colours and all.
      const running = runOne(context, action, run, verbose && runs.length === 1 ? undefined : width, options.watchBoot === true, board);
      started.push(running.outcome);
      if (leads.length === 0) continue;
      context.ui.info(`${run.name} goes first: it creates ${leads.map((thing) => thing.label).join(', ')}; the others wait until it runs`);
      await readyOrDone(context, run.domain, running.done, options.pollMs ?? 2000);
      for (const thing of leads) pending.delete(thing.key);
    }
    return await Promise.all(started);
  } finally {
    if (!options.steps) await board?.close(context.home);
  }
}

function runOne(
  context: Context,
  action: string,
  run: MachineRun,
  width: number | undefined,
  watch: boolean,
  board: StepBoard | undefined,
): { outcome: Promise<RunOutcome>; done: () => boolean } {
  let finished = false;
  const outcome = (async () => {
    const started = Date.now();
    const watcher = watch ? watchBoot(context, run.domain) : undefined;
    const ended = (exitCode: number, cancelled: boolean | undefined, log: string, tail: string[]): RunOutcome => {
      watcher?.stop();
      const stall = cancelled ? watcher?.stall() : undefined;
      if (stall) context.ui.warn(`${run.name}: ${stall.message}; vagrant stopped`);
      return { name: run.name, domain: run.domain, ok: exitCode === 0 && !stall, exitCode, seconds: (Date.now() - started) / 1000, log, tail, ...(stall ? { stall } : {}) };
    };
    if (width === undefined) {
      try {
        const result = await context.runner.run('vagrant', run.args, { cwd: context.labDir, env: VAGRANT_ENV, stdio: 'inherit', check: false, signal: watcher?.signal });
        return ended(result.exitCode, result.cancelled, '(the output above)', []);
      } finally {
        watcher?.stop();
        finished = true;
      }
    }
    const log = await JobLog.open(path.join(context.home, 'logs', `${action}-${run.name}-${new Date().toISOString().replace(/[:.]/g, '-')}.log`));
    const tail: string[] = [];
    const label = `[${run.name.padEnd(width)}] `;
    const steps = board?.machine(run.name);
    if (steps) {
      steps.provisioners = run.provisioners;
      // Until vagrant names a step of its own (a machine that is already up says little).
      steps.begin(action, action, { placeholder: true });
    }
    try {
      const result = await context.runner.run('vagrant', run.args, {
        cwd: context.labDir,
        env: VAGRANT_ENV,
        check: false,
        signal: watcher?.signal,
        onLine: (line) => {
          log.line(line);
          tail.push(line);
          if (tail.length > FAILURE_TAIL) tail.shift();
          if (!steps) {
            if (line.trim()) context.ui.info(`${label}${line}`);
            return;
          }
          steps.vagrantLine(line);
          if (isVagrantWarning(line)) context.ui.warn(`${run.name}: ${line.replace(/^==> [\w.-]+: /, '').trim()}`);
        },
      });
      const outcome = ended(result.exitCode, result.cancelled, log.file, tail);
      if (outcome.stall) log.line(`vmlab: ${outcome.stall.message}; vagrant stopped`);
      if (steps && outcome.ok) steps.finish();
      if (steps && !outcome.ok) outcome.step = steps.fail(outcome.stall?.message);
      return outcome;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log.line(message);
      const step = steps?.fail();
      return { name: run.name, domain: run.domain, ok: false, exitCode: -1, seconds: (Date.now() - started) / 1000, log: log.file, tail: [...tail, message], ...(step ? { step } : {}) };
    } finally {
      watcher?.stop();
      finished = true;
      await log.close();
    }
  })();
  return { outcome, done: () => finished };
}

/**
 * One vagrant command on one machine (halt, destroy) with the step display and its log; a failure throws
 * the CommandError vagrant's own exit would have, with the step, the log's tail and its path.
 */
export async function runVagrantStep(context: Context, action: string, run: MachineRun): Promise<void> {
  const [outcome] = await runMachines(context, action, [run]);
  if (!outcome || outcome.ok) return;
  throw new CommandError(['vagrant', ...run.args], outcome.exitCode, outcome.tail.join('\n'), outcome.tail.length ? `Its full log: ${outcome.log}` : undefined);
}

/** How many of a failed run's last lines its report shows. */
export const FAILURE_TAIL = 20;

/**
 * What a failed run's report shows: the step it failed in, the last lines of its log and the log's path.
 * Empty when its output went to the terminal (VERBOSE=1, one machine).
 */
export function failureDetail(outcome: RunOutcome): string {
  if (!outcome.tail.length) return '';
  const lines = outcome.tail.map((line) => `    ${line}`).join('\n');
  return `\n  ${outcome.step ? `failed at: ${outcome.step}\n  ` : ''}last ${outcome.tail.length} lines of ${outcome.log}:\n${lines}`;
}

/** Until the domain runs (its box is in the pool, its networks exist) or its vagrant process has ended. */
async function readyOrDone(context: Context, domain: string, done: () => boolean, pollMs: number): Promise<void> {
  const virsh = new Virsh(context.runner, context.libvirtUri);
  while (!done()) {
    if ((await virsh.domains().catch(() => [])).some((row) => row.name === domain && row.state === 'running')) return;
    await sleep(pollMs);
  }
}

/** One line per machine: how it went, how long it took, where its log is. */
export function renderOutcomes(outcomes: RunOutcome[]): string {
  return renderTable(
    ['MACHINE', 'RESULT', 'SECONDS', 'LOG'],
    outcomes.map((outcome) => [outcome.name, outcome.ok ? 'ok' : outcome.stall ? `FAILED (${outcome.stall.message})` : `FAILED (exit ${outcome.exitCode})`, Math.round(outcome.seconds), outcome.log]),
  );
}
