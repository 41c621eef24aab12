import { describe, expect, it } from 'vitest';
import { etaText, formatSeconds, recordDuration, typicalDuration, type StepTimes } from '../../src/ui/step-times.js';
import { StepBoard } from '../../src/ui/steps.js';
import type { Ui } from '../../src/ui/ui.js';
import { phaseOf } from '../../src/ui/vagrant-phases.js';

/** A pipe: no live lines; every info line is kept. */
function pipeUi(lines: string[], quiet = false): Ui {
  return {
    json: false, quiet, verbose: false, live: false,
    out: (text) => lines.push(text), info: (text) => quiet || lines.push(text), warn: (text) => lines.push(`warning: ${text}`), error: (text) => lines.push(`error: ${text}`),
    result: () => undefined, progress: () => ({ update() {}, succeed() {}, fail() {} }), paint: (_colour, text) => text, attachLive: () => () => undefined,
  };
}

describe('the step display in a pipe', () => {
  it('prints one plain line per step when it ends, with its time; vagrant lines name the steps', () => {
    const lines: string[] = [];
    let now = 0;
    const board = new StepBoard(pipeUi(lines), { action: 'up', names: ['web', 'db'], now: () => now });
    const web = board.machine('web');
    web.provisioners = 2;
    web.begin('up', 'up', { placeholder: true });
    now = 500;
    web.vagrantLine('==> web: Creating image (snapshot of base box volume).');
    now = 2_000;
    web.vagrantLine('==> web: Starting domain.');
    web.vagrantLine('==> web: Waiting for domain to get an IP address...');
    expect(lines).toEqual(['web  prepare         ✔ 2 s']);
    now = 33_000;
    web.vagrantLine('==> web: Waiting for machine to boot. This may take a few minutes...');
    now = 40_000;
    web.vagrantLine('==> web: Running provisioner: feature-essentials (shell)...');
    web.vagrantLine('    web: Unpacking vim (2:9.0) ...');
    now = 52_000;
    web.vagrantLine('==> web: Running provisioner: hosts (shell)...');
    now = 53_000;
    web.finish();
    web.begin('checks');
    now = 56_000;
    web.finish('3/3 pass');
    expect(lines).toEqual([
      'web  prepare         ✔ 2 s',
      'web  boot            ✔ 31 s',
      'web  ssh             ✔ 7 s',
      'web  provision essentials 1/2  ✔ 12 s',
      'web  provision hosts 2/2  ✔ 1 s',
      'web  checks          ✔ 3/3 pass  3 s',
    ]);
  });

  it('a failed step is marked and named', () => {
    const lines: string[] = [];
    let now = 0;
    const board = new StepBoard(pipeUi(lines), { action: 'up', names: ['web'], now: () => now });
    const web = board.machine('web');
    web.vagrantLine('==> web: Running provisioner: feature-docker (shell)...');
    now = 9_000;
    expect(web.fail()).toBe('provision docker 1');
    expect(lines).toEqual(['web  provision docker 1  ✖ 9 s']);
  });

  it('QUIET=1: no step lines', () => {
    const lines: string[] = [];
    const web = new StepBoard(pipeUi(lines, true), { action: 'up', names: ['web'] }).machine('web');
    web.begin('boot');
    web.finish();
    expect(lines).toEqual([]);
  });

  it('on a terminal the running step is a live line with the ETA learned from earlier runs', () => {
    let now = 0;
    let area: { lines(): string[] } | undefined;
    const ui = { ...pipeUi([]), live: true, attachLive: (given: { lines(): string[] }) => ((area = given), () => undefined) };
    const times: StepTimes = { version: 1, steps: { 'up boot': [30, 31, 40] } };
    const board = new StepBoard(ui, { action: 'up', names: ['web', 'db'], times, now: () => now });
    board.machine('web').begin('boot');
    board.machine('db').begin('ssh');
    now = 12_000;
    expect(area?.lines()).toEqual([expect.stringMatching(/^web  boot {12}. 12 s {2}\(about 19 s left\)$/), expect.stringMatching(/^db {3}ssh {13}. 12 s$/)]);
  });
});

describe('ETA arithmetic', () => {
  it('the typical duration is the median of the last five runs', () => {
    const times: StepTimes = { version: 1, steps: {} };
    for (const seconds of [100, 30, 31, 29, 35, 33]) recordDuration(times, 'up boot', seconds);
    expect(times.steps['up boot']).toEqual([30, 31, 29, 35, 33]);
    expect(typicalDuration(times, 'up boot')).toBe(31);
    expect(typicalDuration(times, 'up ssh')).toBeUndefined();
  });

  it.each([
    { elapsed: 10, typical: 31, text: 'about 21 s left' },
    { elapsed: 31, typical: 31, text: 'longer than the usual 31 s' },
    { elapsed: 5, typical: 125, text: 'about 2 min 00 s left' },
    { elapsed: 5, typical: undefined, text: '' },
  ])('$elapsed s into a step of $typical s: "$text"', ({ elapsed, typical, text }) => {
    expect(etaText(elapsed, typical)).toBe(text);
  });

  it('formats seconds and minutes', () => {
    expect([formatSeconds(0.4), formatSeconds(59.6), formatSeconds(61)]).toEqual(['0 s', '1 min 00 s', '1 min 01 s']);
  });
});

describe('vagrant lines to steps', () => {
  it.each([
    ['==> web: Creating image (snapshot of base box volume).', 'prepare'],
    ['==> web: Starting domain.', 'boot'],
    ['==> web: Waiting for domain to get an IP address...', 'boot'],
    ['==> web: Waiting for machine to boot. This may take a few minutes...', 'ssh'],
    ['==> web: Machine booted and ready!', 'configure'],
    ['==> web: Attempting graceful shutdown of VM...', 'shutdown'],
    ['==> web: Removing domain...', 'destroy'],
  ])('%s -> %s', (line, step) => {
    expect(phaseOf(line)?.step).toBe(step);
  });

  it('a provisioner line names the provisioner; other lines name no step', () => {
    expect(phaseOf('==> k8s-w1: Running provisioner: feature-docker (shell)...')).toEqual({ step: 'provision', provisioner: 'feature-docker' });
    expect(phaseOf('    web: Unpacking vim (2:9.0) ...')).toBeUndefined();
  });
});
