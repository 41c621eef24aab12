import { describe, expect, it } from 'vitest';
import { checkImageName, checkMachineName } from '../../src/names.js';

describe('machine names', () => {
  it.each(['web', 'web-1', 'a', 'k8s-cp', 'a'.repeat(40)])('accepts %s', (name) => {
    expect(checkMachineName(name)).toBe(name);
  });

  it.each([
    ['', 'empty'],
    ['Web', 'uppercase'],
    ['1web', 'digit first'],
    ['-web', 'hyphen first'],
    ['web-', 'hyphen last'],
    ['web_1', 'underscore'],
    ['web 1', 'space'],
    ['web/1', 'slash'],
    ["we'b", 'quote'],
    ['$(id)', 'command substitution'],
    ['web;reboot', 'semicolon'],
    ['wéb', 'unicode'],
    ['a'.repeat(41), 'too long'],
  ])('refuses %j (%s) with the rule and exit code 2', (name) => {
    expect(() => checkMachineName(name)).toThrowError(/invalid machine name .*lowercase letter/);
    try {
      checkMachineName(name);
    } catch (error) {
      expect((error as { exitCode: number }).exitCode).toBe(2);
    }
  });
});

describe('image names', () => {
  it.each(['debian-12', 'ubuntu-24.04', 'web-golden'])('accepts %s', (name) => expect(checkImageName(name)).toBe(name));
  it.each(['../etc', 'a/b', 'Deb', 'x..y', ''])('refuses %j', (name) => expect(() => checkImageName(name)).toThrowError(/invalid image name/));
});
