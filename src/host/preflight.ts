import { virshArgs } from '../adapters/virsh.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { setupHost } from './setup.js';
import { findOnPath } from './find-on-path.js';

/**
 * Check, before anything changes, that the tools a lifecycle command needs are there and that
 * libvirtd answers. In a dry run a missing piece is a warning: the plan can still be shown.
 */
export async function preflight(
  context: Context,
  tools: ('vagrant' | 'virsh')[] = ['vagrant', 'virsh'],
  options: { setupIfNeeded?: boolean } = {},
): Promise<void> {
  if (options.setupIfNeeded && !context.dryRun) {
    const ready = await preflight(context, tools).then(
      () => true,
      () => false,
    );
    if (ready) return;
    context.ui.info('the host is not set up yet: running setup first');
    await setupHost(context);
  }
  try {
    for (const tool of tools) {
      if (!(await findOnPath(tool, context.env))) {
        throw new UserError(`${tool} is not installed (or not on PATH)`, 'Run: make setup');
      }
    }
    if (tools.includes('virsh')) await checkLibvirt(context);
  } catch (error) {
    if (context.dryRun && error instanceof UserError) {
      context.ui.warn(`${error.message} (dry run: showing the plan anyway)`);
      return;
    }
    throw error;
  }
}

export async function checkLibvirt(context: Context): Promise<void> {
  const result = await context.runner.run('virsh', ['-c', context.libvirtUri, ...virshArgs.version()], {
    readOnly: true,
    check: false,
  });
  if (result.exitCode !== 0) {
    const detail = (result.stderr.trim().split('\n')[0] ?? '').replace(/^error:\s*/, '');
    throw new UserError(`libvirtd is not reachable at ${context.libvirtUri}${detail ? `: ${detail}` : ''}`, 'Run: make setup (it starts libvirtd), then retry.');
  }
}
