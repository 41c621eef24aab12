/**
 * The steps of a vagrant run, recognised from vagrant's own lines (vagrant 2.3, vagrant-libvirt 0.11):
 * a line that starts a step names it; every other line is only logged.
 */
export interface Phase {
  step: string;
  /** For a provisioner: its name. */
  provisioner?: string;
}

const PHASES: [RegExp, string][] = [
  [/Creating image \(snapshot of base box volume\)|Uploading base box image|Creating domain with the following settings|Checking if box .* is up to date|Box .* could not be found|Adding box/, 'prepare'],
  [/Starting domain|Waiting for domain to get an IP address|Domain launching with graphics connection/, 'boot'],
  [/Waiting for machine to boot/, 'ssh'],
  [/Machine booted and ready!|Setting hostname|Configuring and enabling network interfaces|Rsyncing folder|Installing rsync/, 'configure'],
  [/Attempting graceful shutdown of VM|Halting domain/, 'shutdown'],
  [/Removing domain|Deleting the machine folder/, 'destroy'],
];

/** "==> web: Starting domain." -> { step: 'boot' }; "==> web: Running provisioner: feature-docker (shell)..." -> provision. */
export function phaseOf(line: string): Phase | undefined {
  // eslint-disable-next-line no-control-regex
  const text = line.replace(/\u001b\[[0-9;]*m/g, '').replace(/^==> [\w.-]+: /, '').trim();
  const provisioner = /^Running provisioner: ([^\s(]+)/.exec(text);
  if (provisioner) return { step: 'provision', provisioner: provisioner[1] };
  for (const [pattern, step] of PHASES) if (pattern.test(text)) return { step };
  return undefined;
}

/** Lines that must reach the user even when vagrant's output goes only to the log. */
export function isVagrantWarning(line: string): boolean {
  // eslint-disable-next-line no-control-regex
  const text = line.replace(/\u001b\[[0-9;]*m/g, '').replace(/^==> [\w.-]+: /, '').trim();
  return /^(WARNING|Warning):|^Vagrant (is|was) unable|^There (are|were) errors/.test(text);
}
