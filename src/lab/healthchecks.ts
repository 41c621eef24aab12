import { vagrantArgs, Vagrant } from '../adapters/vagrant.js';
import type { Context } from '../context.js';
import type { Role } from '../roles/role-schema.js';
import { renderTable } from '../ui/ui.js';

/**
 * A role's health checks, run in the VM in one SSH session (each `vagrant ssh` costs seconds): every
 * check is sent base64-encoded, so its text crosses no shell on the way, runs as root under bash with a
 * time limit, and reports its exit code on a marker line that the parser below reads back.
 *
 * SSH answers before the guest has finished booting, and a role's boot-time units (LXD's first
 * initialisation, say) may still be running then, above all under software emulation. So the session
 * first waits, within a limit, for systemd to finish starting up (`is-system-running --wait`), and
 * reports the state it reached; a failing check then says when the boot had not finished or had
 * degraded, which is usually why.
 */

export interface CheckResult {
  machine: string;
  check: string;
  ok: boolean;
  /** The check's last line of output, or why it could not run. */
  detail: string;
}

const MARKER = 'VMLAB-CHECK';
const CHECK_SECONDS = 60;
const BOOT_SECONDS = 300;

/** Boot states of `systemctl is-system-running` that mean startup is over and nothing failed. */
const BOOTED = new Set(['running']);

/**
 * The remote command: wait for the boot, then one sudo for all the checks (each sudo costs a good part of
 * a second under software emulation). The root side is a small bash program, itself sent base64-encoded,
 * that decodes each check, runs it under a time limit and prints "VMLAB-CHECK <index> <exit code>" after
 * its last line of output.
 */
export function checkScript(checks: Role['healthchecks']): string {
  const boot = `boot=$(timeout ${BOOT_SECONDS} systemctl is-system-running --wait 2>/dev/null); echo "${MARKER}-BOOT \${boot:-unfinished}"`;
  const runner = [
    `check() { local out rc; out=$(base64 -d <<<"$2" | timeout ${CHECK_SECONDS} bash 2>&1); rc=$?; printf '${MARKER}-OUT %s %s\\n${MARKER} %s %s\\n' "$1" "\${out##*$'\\n'}" "$1" "$rc"; }`,
    ...checks.map((check, index) => `check ${index} ${Buffer.from(check.run).toString('base64')}`),
  ].join('\n');
  return `${boot}; echo ${Buffer.from(`${runner}\n`).toString('base64')} | base64 -d | sudo bash`;
}

/** Why a failing check may have failed, from the boot state the session reported ('' when booted). */
function bootNote(stdout: string): string {
  const state = new RegExp(`^${MARKER}-BOOT (\\S+)\\s*$`, 'm').exec(stdout)?.[1];
  if (state === undefined || BOOTED.has(state)) return '';
  if (state === 'degraded') return ' (the VM booted degraded: see systemctl --failed)';
  return ` (the VM had not finished booting after ${BOOT_SECONDS} s: ${state})`;
}

export function parseCheckOutput(machine: string, checks: Role['healthchecks'], stdout: string): CheckResult[] {
  const codes = new Map<number, number>();
  const details = new Map<number, string>();
  for (const line of stdout.split('\n')) {
    const code = new RegExp(`^${MARKER} (\\d+) (\\d+)\\s*$`).exec(line);
    if (code) codes.set(Number(code[1]), Number(code[2]));
    const out = new RegExp(`^${MARKER}-OUT (\\d+) (.*)$`).exec(line);
    if (out) details.set(Number(out[1]), (out[2] ?? '').trim());
  }
  const note = bootNote(stdout);
  return checks.map((check, index) => {
    const code = codes.get(index);
    if (code === undefined) return { machine, check: check.name, ok: false, detail: 'did not run (the SSH session ended early)' };
    const detail = details.get(index) ?? '';
    if (code === 124) return { machine, check: check.name, ok: false, detail: `timed out after ${CHECK_SECONDS} s${note}` };
    return { machine, check: check.name, ok: code === 0, detail: code === 0 ? detail : `exit ${code}${detail ? `: ${detail}` : ''}${note}` };
  });
}

export async function runHealthChecks(context: Context, machine: string, role: Role): Promise<CheckResult[]> {
  if (role.healthchecks.length === 0) return [];
  const result = await new Vagrant(context.runner, context.labDir).run(vagrantArgs.ssh(machine, checkScript(role.healthchecks)), { check: false });
  if (context.dryRun) return [];
  const results = parseCheckOutput(machine, role.healthchecks, result.stdout);
  if (result.exitCode !== 0 && results.every((entry) => entry.detail.startsWith('did not run'))) {
    const why = (result.stderr.trim().split('\n').at(-1) ?? '').trim();
    return results.map((entry) => ({ ...entry, detail: `could not reach ${machine} over SSH${why ? `: ${why}` : ''}` }));
  }
  return results;
}

export function renderCheckResults(results: CheckResult[]): string {
  return renderTable(
    ['MACHINE', 'CHECK', 'RESULT', 'DETAIL'],
    results.map((entry) => [entry.machine, entry.check, entry.ok ? 'pass' : 'FAIL', entry.detail.slice(0, 100)]),
  );
}
