import type { Ui } from './ui.js';
import { etaText, formatSeconds, recordDuration, stepTimesFile, typicalDuration, type StepTimes } from './step-times.js';
import { phaseOf } from './vagrant-phases.js';

/**
 * The step display of the commands that change machines: one line per step of each machine with its
 * elapsed time ("web  boot  ✔ 31 s"). On a terminal the running step of each machine is a live line with
 * the ETA learned from earlier runs of the same step on this host; in a pipe or CI each step is one plain
 * line when it ends. QUIET=1 shows none of it (ui.info is quiet); failures are reported by the caller.
 */

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const LABEL_WIDTH = 14;

interface Running {
  /** A stand-in until the tool names a step of its own: not shown if one follows. */
  placeholder?: boolean;
  label: string;
  key: string;
  started: number;
}

export interface StepBoardOptions {
  /** The command, part of each step's ETA key ("up boot"). */
  action: string;
  /** The machines' names, to align the columns. */
  names: string[];
  times?: StepTimes;
  now?: () => number;
}

export class StepBoard {
  private readonly machines = new Map<string, MachineSteps>();
  private readonly done: { key: string; seconds: number }[] = [];
  private readonly detach?: () => void;
  readonly width: number;
  private readonly now: () => number;

  constructor(
    private readonly ui: Ui,
    private readonly options: StepBoardOptions,
  ) {
    this.width = Math.max(0, ...options.names.map((name) => name.length));
    this.now = options.now ?? Date.now;
    if (ui.live) this.detach = ui.attachLive({ lines: () => [...this.machines.values()].flatMap((machine) => machine.liveLine(this.now())) });
  }

  /** The board with the durations of earlier runs read from VMLAB_HOME (none when unreadable). */
  static async open(ui: Ui, home: string, options: Omit<StepBoardOptions, 'times'>): Promise<StepBoard> {
    const times = await stepTimesFile(home)
      .read()
      .catch(() => undefined);
    return new StepBoard(ui, { ...options, times });
  }

  machine(name: string): MachineSteps {
    let machine = this.machines.get(name);
    if (!machine) {
      machine = new MachineSteps(name, this, this.now);
      this.machines.set(name, machine);
    }
    return machine;
  }

  typical(key: string): number | undefined {
    return this.options.times ? typicalDuration(this.options.times, key) : undefined;
  }

  keyOf(step: string): string {
    return `${this.options.action} ${step}`;
  }

  /** A step that ended: its line (on a terminal above the live lines), and its duration remembered. */
  ended(line: string, key: string, seconds: number, ok: boolean): void {
    if (ok) this.done.push({ key, seconds });
    this.ui.info(line);
  }

  paint: Ui['paint'] = (colour, text) => this.ui.paint(colour, text);

  /** Stop drawing, and remember how long the finished steps took (written atomically, under the file's lock). */
  async close(home?: string): Promise<void> {
    this.detach?.();
    if (!home || this.done.length === 0) return;
    await stepTimesFile(home)
      .update((times) => {
        for (const { key, seconds } of this.done) recordDuration(times, key, seconds);
      })
      .catch(() => undefined);
  }
}

export class MachineSteps {
  private running?: Running;
  private provisioned = 0;
  /** How many provisioners this run has (for "provision docker 2/3"), when known. */
  provisioners?: number;
  /** The label of the step that failed or is running, for the failure report. */
  lastStep?: string;

  constructor(
    readonly name: string,
    private readonly board: StepBoard,
    private readonly now: () => number,
  ) {}

  /** Start a step; the one running ends as done. */
  begin(step: string, label = step, options: { placeholder?: boolean } = {}): void {
    if (this.running?.label === label) return;
    if (this.running?.placeholder) this.running = undefined;
    this.finish();
    this.running = { label, key: this.board.keyOf(step), started: this.now(), placeholder: options.placeholder };
    this.lastStep = label;
  }

  /** The running step ended well; result is what it found ("3/3 pass"). */
  finish(result?: string): void {
    this.end(true, result);
  }

  /** The running step failed; returns its label (or the last step's). */
  fail(result?: string): string | undefined {
    const label = this.running?.label ?? this.lastStep;
    this.end(false, result);
    return label;
  }

  /** One line of vagrant's output: a line that starts a step ends the one before. */
  vagrantLine(line: string): void {
    const phase = phaseOf(line);
    if (!phase) return;
    if (phase.step !== 'provision') return this.begin(phase.step);
    this.provisioned++;
    const name = (phase.provisioner ?? '').replace(/^feature-/, '');
    const count = this.provisioners ? `${this.provisioned}/${this.provisioners}` : String(this.provisioned);
    this.begin(`provision ${phase.provisioner}`, `provision ${name} ${count}`);
  }

  liveLine(now: number): string[] {
    if (!this.running) return [];
    const elapsed = (now - this.running.started) / 1000;
    const eta = etaText(elapsed, this.board.typical(this.running.key));
    const frame = FRAMES[Math.floor(now / 100) % FRAMES.length];
    return [`${this.prefix()}${this.board.paint('cyan', frame!)} ${formatSeconds(elapsed)}${eta ? this.board.paint('dim', `  (${eta})`) : ''}`];
  }

  private prefix(label = this.running?.label ?? ''): string {
    return `${this.name.padEnd(this.board.width)}  ${label.padEnd(LABEL_WIDTH)}  `;
  }

  private end(ok: boolean, result?: string): void {
    const running = this.running;
    if (!running) return;
    this.running = undefined;
    const seconds = (this.now() - running.started) / 1000;
    const mark = ok ? this.board.paint('green', '✔') : this.board.paint('red', '✖');
    this.board.ended(`${this.prefix(running.label)}${mark} ${result ? `${result}  ` : ''}${formatSeconds(seconds)}`, running.key, seconds, ok);
  }
}
