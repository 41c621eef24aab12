import type { Context } from '../context.js';
import { readAdmission, renderAdmission } from '../host/admission.js';
import { checkLibvirt } from '../host/preflight.js';
import { loadWorkspace } from '../lab/workspace.js';

/** make resources: who uses what on this host (every running VM), against the limits that admission applies. */
export async function showResources(context: Context): Promise<void> {
  const workspace = await loadWorkspace(context);
  await checkLibvirt(context);
  const report = await readAdmission(context, [], workspace.labFile.lab.admission);
  context.ui.result(
    { host: report.host, running: report.running, totals: report.totals, limits: report.limits, admission: report.admission },
    () => renderAdmission(report),
  );
}
