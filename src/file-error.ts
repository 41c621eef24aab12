import { UserError } from './errors.js';

/**
 * A state file or folder vmlab could not read or write (the registry index, the queue, lab.yaml, the
 * logs folder...): the path, why, and the fix, instead of a crash. Undefined for errors that are not
 * about access to a path (those stay what they are).
 */
const REASONS: Record<string, { why: string; fix: (file: string) => string }> = {
  EACCES: { why: 'permission denied', fix: (file) => `Run vmlab as the user that owns it (ls -ld ${file}), or give this user access to it (chown/chmod)` },
  EPERM: { why: 'operation not permitted', fix: (file) => `Run vmlab as the user that owns it (ls -ld ${file}), or give this user access to it (chown/chmod)` },
  EROFS: { why: 'the file system is read-only', fix: () => 'Remount it read-write, or point VMLAB_HOME / VMLAB_LAB_DIR at a writable folder' },
  EISDIR: { why: 'it is a folder where a file should be', fix: (file) => `Move the folder away (mv ${file} ${file}.moved), then retry` },
  ENOTDIR: { why: 'a file stands where a folder should be on its path', fix: (file) => `Move that file away (see: ls -ld ${file} and its parents), then retry` },
  ELOOP: { why: 'too many symbolic links on its path', fix: (file) => `Check the links on its path: ls -l ${file}` },
};

const WRITING = /^(mkdir|rename|unlink|rmdir|write|copyfile|symlink|link|chmod|chown|utime|rm|ftruncate|fsync)$/;

export function fileAccessError(error: unknown, options: { what?: string; verb?: 'read' | 'write'; unchanged?: boolean; file?: string } = {}): UserError | undefined {
  const { what, unchanged = true } = options;
  let { verb } = options;
  const { code, syscall } = (error ?? {}) as NodeJS.ErrnoException;
  // A read through a file handle (readFile of a folder: EISDIR) carries no path; the caller knows it.
  const file = (error as NodeJS.ErrnoException | undefined)?.path ?? options.file;
  const reason = code ? REASONS[code] : undefined;
  if (!reason || !file) return undefined;
  verb ??= code === 'EROFS' || WRITING.test(syscall ?? '') ? 'write' : syscall === 'open' ? undefined : 'read';
  const subject = what ? `${what} (${file})` : file;
  return new UserError(`cannot ${verb ?? 'open'} ${subject}: ${reason.why}.${unchanged ? ' Nothing was changed.' : ''}`, reason.fix(file));
}
