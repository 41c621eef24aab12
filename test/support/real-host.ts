import { execa } from 'execa';

/**
 * The real-VM ring runs where the host is set up (vagrant, libvirtd answering, root for image builds).
 * Elsewhere it is skipped loudly; VMLAB_REAL=required turns the skip into a failure (CI sets it).
 */
export async function realHostProblem(): Promise<string | undefined> {
  if (process.env.VMLAB_REAL === 'skip') return 'VMLAB_REAL=skip';
  if (process.getuid?.() !== 0) return 'not root (base image builds need loop devices and mount)';
  const vagrant = await execa('vagrant', ['--version'], { reject: false, env: { VAGRANT_CHECKPOINT_DISABLE: '1' } }).catch(() => undefined);
  if (vagrant?.exitCode !== 0) return 'vagrant is not installed';
  const virsh = await execa('virsh', ['-c', 'qemu:///system', 'version'], { reject: false }).catch(() => undefined);
  if (virsh?.exitCode !== 0) return 'libvirtd is not reachable';
  return undefined;
}

export const REAL_REQUIRED = process.env.VMLAB_REAL === 'required';
