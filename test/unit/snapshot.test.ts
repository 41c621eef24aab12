import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDomstate, parseSnapshotList, snapshotTimeToIso, virshArgs } from '../../src/adapters/virsh.js';
import {
  checkSnapshotLabel,
  labelMissing,
  labelTaken,
  parseMachineNames,
  parseSnapshotRequest,
  renderSnapshotList,
  snapshotListData,
  type SnapshotTarget,
} from '../../src/commands/snapshot.js';
import { UserError } from '../../src/errors.js';
import { REPO } from '../support/fakes.js';

const fixture = (name: string) => readFileSync(path.join(REPO, 'test/fixtures', name), 'utf8');

/** The UserError a function throws (or fails the test). */
function refusal(run: () => unknown): UserError {
  try {
    run();
  } catch (error) {
    if (error instanceof UserError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('virsh snapshot-list', () => {
  it('reads name, creation time (as ISO 8601) and state', () => {
    expect(parseSnapshotList(fixture('virsh/snapshot-list.txt'))).toEqual([
      { name: 'before', created: '2026-11-22T10:15:02Z', state: 'running' },
      { name: 'clean', created: '2026-11-22T10:20:40Z', state: 'shutoff' },
    ]);
  });

  it('an empty list is the header and the dashes only', () => {
    expect(parseSnapshotList(fixture('virsh/snapshot-list-empty.txt'))).toEqual([]);
    expect(parseSnapshotList('')).toEqual([]);
  });

  it('reads a name with spaces (made outside vmlab) and a two-word state whole', () => {
    const stdout = ' Name         Creation Time               State\n----------------------------------\n my old one   2026-01-02 03:04:05 +0100   disk-snapshot\n';
    expect(parseSnapshotList(stdout)).toEqual([{ name: 'my old one', created: '2026-01-02T02:04:05Z', state: 'disk-snapshot' }]);
  });

  it('converts time zones to UTC and keeps text it cannot read', () => {
    expect(snapshotTimeToIso('2026-11-22 10:15:02 +0000')).toBe('2026-11-22T10:15:02Z');
    expect(snapshotTimeToIso('2026-11-22 01:15:02 -0530')).toBe('2026-11-22T06:45:02Z');
    expect(snapshotTimeToIso('yesterday')).toBe('yesterday');
  });
});

describe('virsh domstate', () => {
  it.each([
    ['running\n\n', 'running'],
    ['shut off\n\n', 'shut off'],
    ['running (booted)\n', 'running'],
    ['\n', undefined],
  ])('%j is %j', (stdout, state) => {
    expect(parseDomstate(stdout)).toBe(state);
  });
});

describe('virsh snapshot argv', () => {
  it('builds argv arrays with the domain and label as their own words', () => {
    expect(virshArgs.domstate('vmlab-lab-web')).toEqual(['domstate', 'vmlab-lab-web']);
    expect(virshArgs.snapshotList('vmlab-lab-web')).toEqual(['snapshot-list', 'vmlab-lab-web']);
    expect(virshArgs.snapshotCreateAs('vmlab-lab-web', 'before')).toEqual([
      'snapshot-create-as', '--domain', 'vmlab-lab-web', '--name', 'before', '--description', 'vmlab snapshot', '--atomic',
    ]);
    expect(virshArgs.snapshotRevert('vmlab-lab-web', 'before', { running: true })).toEqual([
      'snapshot-revert', '--domain', 'vmlab-lab-web', '--snapshotname', 'before', '--running',
    ]);
    expect(virshArgs.snapshotRevert('vmlab-lab-web', 'before', { running: false })).toEqual([
      'snapshot-revert', '--domain', 'vmlab-lab-web', '--snapshotname', 'before',
    ]);
    expect(virshArgs.snapshotDelete('vmlab-lab-web', 'before')).toEqual(['snapshot-delete', '--domain', 'vmlab-lab-web', '--snapshotname', 'before']);
  });
});

describe('snapshot labels', () => {
  it.each(['before', 'v1.2', 'pre_upgrade-2', '2026-11-22', 'A', 'a'.repeat(64)])('%j is accepted', (label) => {
    expect(checkSnapshotLabel(label)).toBe(label);
  });

  it.each([
    ['with a space', 'a b'],
    ['a command substitution', '$(id)'],
    ['a semicolon', 'a;b'],
    ['a slash', 'a/b'],
    ['dot dot', '..'],
    ['a leading hyphen (an option to virsh)', '-rf'],
    ['a leading dot', '.hidden'],
    ['65 characters', 'a'.repeat(65)],
    ['unicode', 'café'],
    ['a newline', 'a\nb'],
    ['empty', ''],
  ])('%s is refused with exit 2', (_case, label) => {
    const error = refusal(() => checkSnapshotLabel(label));
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain('invalid snapshot label');
  });
});

describe('snapshot requests', () => {
  it('reads the action, the machines and the label', () => {
    expect(parseSnapshotRequest({ action: 'create', name: 'web, db', snap: 'before' })).toEqual({ action: 'create', machines: ['web', 'db'], label: 'before' });
    expect(parseSnapshotRequest({ action: 'list', name: 'web' })).toEqual({ action: 'list', machines: ['web'], label: undefined });
  });

  it.each([
    [{ action: 'rollback', name: 'web', snap: 'x' }, /unknown snapshot ACTION "rollback": use one of create, list, restore, delete/],
    [{ name: 'web' }, /needs an ACTION: use one of create, list, restore, delete/],
    [{ action: 'create', name: 'web' }, /ACTION=create needs SNAP=<label>/],
    [{ action: 'restore', name: 'web', snap: '' }, /ACTION=restore needs SNAP/],
    [{ action: 'create', snap: 'x' }, /snapshot needs a NAME/],
    [{ action: 'create', name: 'web,,db', snap: 'x' }, /empty machine name/],
    [{ action: 'delete', name: 'web', snap: 'a b' }, /invalid snapshot label "a b"/],
  ])('%j is refused with exit 2', (options, message) => {
    const error = refusal(() => parseSnapshotRequest(options));
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(message);
  });

  it('NAME lists are de-duplicated, in order', () => {
    expect(parseMachineNames('db,web,db')).toEqual(['db', 'web']);
  });
});

describe('snapshot checks and output', () => {
  const rows = parseSnapshotList(fixture('virsh/snapshot-list.txt'));
  const web: SnapshotTarget = { machine: 'web', domain: 'vmlab-lab-web', state: 'running', snapshots: rows };
  const db: SnapshotTarget = { machine: 'db', domain: 'vmlab-lab-db', state: 'shut off', snapshots: [] };

  it('finds which machines already have a label, and which lack it', () => {
    expect(labelTaken([web, db], 'before').map((target) => target.machine)).toEqual(['web']);
    expect(labelMissing([web, db], 'before').map((target) => target.machine)).toEqual(['db']);
    expect(labelTaken([web, db], 'other')).toEqual([]);
  });

  it('one machine: a table SNAPSHOT CREATED STATE and a JSON array of name, created, state', () => {
    expect(renderSnapshotList([web])).toMatch(/^SNAPSHOT\s+CREATED\s+STATE\nbefore\s+2026-11-22T10:15:02Z\s+running\nclean\s+/);
    expect(snapshotListData([web])).toEqual([
      { name: 'before', created: '2026-11-22T10:15:02Z', state: 'running' },
      { name: 'clean', created: '2026-11-22T10:20:40Z', state: 'shutoff' },
    ]);
  });

  it('several machines: each row names its machine; machines without snapshots are said', () => {
    expect(renderSnapshotList([web, db])).toMatch(/^MACHINE\s+SNAPSHOT\s+CREATED\s+STATE\nweb\s+before\s+/);
    expect(renderSnapshotList([web, db])).toContain('no snapshots: db');
    expect(snapshotListData([web, db])).toEqual(rows.map((row) => ({ machine: 'web', ...row })));
  });

  it('an empty list says so and how to take one', () => {
    expect(renderSnapshotList([db])).toBe('db: no snapshots. Take one: make snapshot NAME=db ACTION=create SNAP=<label>');
    expect(snapshotListData([db])).toEqual([]);
  });
});
