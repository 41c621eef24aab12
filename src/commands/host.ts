import type { Context } from '../context.js';
import { runChecks } from '../host/doctor.js';
import { runRemoteChecks } from '../host/remote-doctor.js';
import { loadWorkspace } from '../lab/workspace.js';
import { contextOfHost } from './hosts.js';
import { setupHost } from '../host/setup.js';
import { renderTable } from '../ui/ui.js';

export async function setup(context: Context): Promise<void> {
  await setupHost(context);
  if (!context.dryRun) context.ui.info('host ready. Next: make create-base NAME=dev');
}

export async function doctor(context: Context, host?: string): Promise<number> {
  // HOST=..: one of the lab's remote hosts, checked through its URI (remote-doctor.ts).
  const remote = host ? contextOfHost(context, (await loadWorkspace(context)).labFile.lab.hosts, host) : undefined;
  const checks = remote?.host ? await runRemoteChecks(remote) : await runChecks(context);
  context.ui.result(checks, () =>
    renderTable(
      ['', 'CHECK', 'DETAIL', 'FIX'],
      checks.map((check) => [!check.ok ? 'FAIL' : check.warn ? 'WARN' : 'OK', check.check, check.detail, check.fix ?? '']),
    ),
  );
  const failed = checks.filter((check) => !check.ok);
  if (failed.length && !context.ui.json) context.ui.error(`${failed.length} check(s) failed: ${failed.map((check) => check.check).join(', ')}. ${remote?.host ? `Fix them on host ${host} with the commands above` : 'Most are fixed by: make setup'}`);
  return failed.length ? 1 : 0;
}
