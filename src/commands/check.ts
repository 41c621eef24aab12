import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { preflight } from '../host/preflight.js';
import { renderCheckResults, runHealthChecks } from '../lab/healthchecks.js';
import { readLiveOnHosts } from '../lab/host-context.js';
import { loadWorkspace, syncVagrantfile } from '../lab/workspace.js';
import { selectMachines, type Selection } from './up.js';

/**
 * make check NAME=..|GROUP=..: run the roles' health checks in the running machines, side by side, and
 * show pass/fail per check (JSON=1). Any failure, or a machine that is not running, exits non-zero.
 */
export async function checkMachines(context: Context, selection: Selection): Promise<number> {
  if (!selection.group && !selection.names) throw new UserError('which machines? check needs NAME or GROUP', 'Example: make check NAME=web, or make check GROUP=k8s', 2);
  const workspace = await loadWorkspace(context);
  const machines = selectMachines(workspace, selection);
  await preflight(context);
  await syncVagrantfile(context);
  const live = await readLiveOnHosts(context, machines);
  const results = (
    await Promise.all(
      machines.map(async (machine) => {
        const state = live.get(machine.domain)?.state ?? 'not created';
        if (state !== 'running') return [{ machine: machine.name, check: '(machine)', ok: false, detail: `${state}: start it first (make start NAME=${machine.name})` }];
        const role = workspace.roles.get(machine.role)!;
        if (role.healthchecks.length === 0) return [{ machine: machine.name, check: '(none)', ok: true, detail: `role ${role.name} declares no health checks` }];
        return runHealthChecks(context, machine.name, role);
      }),
    )
  ).flat();
  if (context.dryRun) return 0;
  context.ui.result(results, () => renderCheckResults(results));
  const failed = results.filter((result) => !result.ok);
  if (failed.length) context.ui.error(`${failed.length} of ${results.length} checks failed`);
  return failed.length ? 1 : 0;
}
