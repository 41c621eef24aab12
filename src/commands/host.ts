import type { Context } from '../context.js';
import { runChecks } from '../host/doctor.js';
import { setupHost } from '../host/setup.js';
import { renderTable } from '../ui/ui.js';

export async function setup(context: Context): Promise<void> {
  await setupHost(context);
  if (!context.dryRun) context.ui.info('host ready. Next: make create-base NAME=dev');
}

export async function doctor(context: Context): Promise<number> {
  const checks = await runChecks(context);
  context.ui.result(checks, () =>
    renderTable(
      ['', 'CHECK', 'DETAIL', 'FIX'],
      checks.map((check) => [!check.ok ? 'FAIL' : check.warn ? 'WARN' : 'OK', check.check, check.detail, check.fix ?? '']),
    ),
  );
  const failed = checks.filter((check) => !check.ok);
  if (failed.length && !context.ui.json) context.ui.error(`${failed.length} check(s) failed: ${failed.map((check) => check.check).join(', ')}. Most are fixed by: make setup`);
  return failed.length ? 1 : 0;
}
