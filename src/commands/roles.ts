import type { Context } from '../context.js';
import { loadRoles } from '../roles/load-roles.js';
import { renderTable } from '../ui/ui.js';

export async function listRoles(context: Context): Promise<void> {
  const roles = [...(await loadRoles(context.projectRoot)).values()];
  context.ui.result(
    roles.map(({ featureScripts: _scripts, ...role }) => role),
    () =>
      renderTable(
        ['ROLE', 'IMAGE', 'CPUS', 'MEMORY', 'DISK', 'FEATURES', 'DESCRIPTION'],
        roles.map((role) => [role.name, role.image, role.resources.cpus, `${role.resources.memory} MiB`, `${role.resources.disk} GiB`, role.features.join(','), role.description]),
      ),
  );
}
