import { describe, expect, it } from 'vitest';
import { parseDomtime } from '../../src/adapters/guest-time.js';
import { fileAccessError } from '../../src/file-error.js';
import { labSchema } from '../../src/lab/lab-schema.js';
import { closest, parseYaml } from '../../src/yaml-file.js';
import { ConfigError } from '../../src/errors.js';

/* Issue 13, points 4, 7 and 8: the pure rules behind the messages. */

const errno = (code: string, syscall: string, path?: string) => Object.assign(new Error(`${code}: ${syscall}`), { code, syscall, path });

describe('fileAccessError: a path vmlab cannot use, with the reason and the fix', () => {
  it.each([
    ['EACCES', 'open', 'read', /^cannot read the queue \(\/h\/q\.json\): permission denied\. Nothing was changed\.$/, /Run vmlab as the user that owns it \(ls -ld \/h\/q\.json\)/],
    ['EISDIR', 'read', 'read', /^cannot read the queue \(\/h\/q\.json\): it is a folder where a file should be\./, /mv \/h\/q\.json \/h\/q\.json\.moved/],
    ['EROFS', 'open', 'write', /^cannot write the queue \(\/h\/q\.json\): the file system is read-only\./, /Remount it read-write/],
  ] as const)('%s on %s', (code, syscall, verb, message, hint) => {
    const error = fileAccessError(errno(code, syscall, '/h/q.json'), { what: 'the queue', verb });
    expect(error?.message).toMatch(message);
    expect(error?.hint).toMatch(hint);
    expect(error?.exitCode).toBe(1);
  });

  it('guesses read or write from the system call; the path from the caller when the error has none', () => {
    expect(fileAccessError(errno('EACCES', 'mkdir', '/h/logs'), { unchanged: false })?.message).toBe('cannot write /h/logs: permission denied.');
    expect(fileAccessError(errno('EISDIR', 'read'), { file: '/h/i.json' })?.message).toMatch(/^cannot read \/h\/i\.json: it is a folder/);
  });

  it('leaves other errors alone', () => {
    expect(fileAccessError(errno('ENOENT', 'open', '/x'))).toBeUndefined();
    expect(fileAccessError(new Error('boom'))).toBeUndefined();
    expect(fileAccessError(errno('EACCES', 'open'))).toBeUndefined();
  });
});

describe('lab.yaml messages', () => {
  const issues = (text: string) => {
    try {
      parseYaml(text, labSchema, 'lab.yaml', 'the hint');
    } catch (error) {
      return { message: (error as ConfigError).message, hint: (error as ConfigError).hint };
    }
    throw new Error('expected a ConfigError');
  };

  it.each([
    ['machins:', 'name: lab\nmachins: {}\n', 'lab.yaml:2:1: machins: unknown field; did you mean machines?'],
    ['nmae:', 'nmae: lab\n', 'lab.yaml:1:1: nmae: unknown field; did you mean name?'],
    ['cpu: under a machine', 'machines:\n  a:\n    role: base\n    cpu: 2\n', 'lab.yaml:4:5: machines.a.cpu: unknown field; did you mean cpus?'],
    ['a field far from any', 'machines:\n  a:\n    role: base\n    colour: red\n', expect.stringMatching(/^lab\.yaml:4:5: machines\.a\.colour: unknown field \(known: role, image, cpus, memory, disk, /)],
    ['memory: 2G', 'machines:\n  a:\n    role: base\n    memory: 2G\n', 'lab.yaml:4:13: machines.a.memory: memory is a whole number of MiB, such as 2048 (for 2 GiB)'],
    ['memory: 1536.5', 'machines:\n  a:\n    role: base\n    memory: 1536.5\n', 'lab.yaml:4:13: machines.a.memory: memory is a whole number of MiB, such as 2048 (for 2 GiB)'],
    ['a list', '- a\n- b\n', 'lab.yaml: the file must be a map of fields (lines such as "name: ..."), not a list'],
    ['a bare word', 'hello\n', 'lab.yaml: the file must be a map of fields (lines such as "name: ..."), not a string'],
    ['binary bytes', '\u0000\u0001PK\u0003', 'lab.yaml: this is not a text file (it holds binary data); it must be YAML text'],
  ])('%s', (_case, text, message) => {
    expect(issues(text).message).toEqual(message);
  });

  it('the whole-file hint comes with whole-file problems only', () => {
    expect(issues('- a\n').hint).toBe('the hint');
    expect(issues('name: lab\nmachins: {}\n').hint).toBeUndefined();
  });

  it('closest: a typo at most two edits away, else nothing', () => {
    expect(closest('machins', ['name', 'machines', 'groups'])).toBe('machines');
    expect(closest('grups', ['name', 'machines', 'groups'])).toBe('groups');
    expect(closest('xyz', ['name', 'machines', 'groups'])).toBeUndefined();
    expect(closest('ip', ['ip', 'image'])).toBe('ip');
  });
});

describe('virsh domtime', () => {
  it('reads the guest clock in seconds', () => {
    expect(parseDomtime('Time: 1764681234\n')).toBe(1764681234);
    expect(parseDomtime('error: Guest agent is not responding\n')).toBeUndefined();
  });
});
