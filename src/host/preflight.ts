import { virshArgs } from '../adapters/virsh.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { REMOTE_TIMEOUT_MS, remoteHostUnreachable } from './remote-hosts.js';
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
  // A remote host is set up there (make doctor HOST=..), never by this machine's setup.
  if (options.setupIfNeeded && !context.dryRun && !context.host) {
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
    // A remote host that does not answer (SSH waiting on a dead address) is given up on, not waited for.
    ...(context.host ? { timeoutMs: REMOTE_TIMEOUT_MS } : {}),
  });
  if (result.exitCode !== 0 && context.host) throw remoteHostUnreachable(context.host, context.libvirtUri, result.stderr, result.timedOut);
  if (result.exitCode !== 0) {
    const detail = (result.stderr.trim().split('\n')[0] ?? '').replace(/^error:\s*/, '');
    throw new UserError(`libvirtd is not reachable at ${context.libvirtUri}${detail ? `: ${detail}` : ''}`, 'Run: make setup (it starts libvirtd), then retry.');
  }
}
