import { access, readdir } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, UserError, type ConfigIssue } from '../errors.js';
import { loadYamlFile } from '../yaml-file.js';
import { roleSchema, type Role } from './role-schema.js';

/** All roles under <projectRoot>/roles, validated: schema first, then the features must exist. */
export async function loadRoles(projectRoot: string): Promise<Map<string, Role>> {
  const dir = path.join(projectRoot, 'roles');
  const files = (await readdir(dir)).filter((file) => file.endsWith('.yaml')).sort();
  const roles = new Map<string, Role>();
  const problems: ConfigError[] = [];
  for (const file of files) {
    try {
      const role = await loadRoleFile(projectRoot, path.join(dir, file));
      roles.set(role.name, role);
    } catch (error) {
      if (error instanceof ConfigError) problems.push(error);
      else throw error;
    }
  }
  if (problems.length > 0) {
    // Bad input like any other configuration file the user wrote: exit 2.
    throw new UserError(problems.map((problem) => problem.message).join('\n'), 'Fix the role files named above.', 2);
  }
  return roles;
}

export async function loadRoleFile(projectRoot: string, file: string): Promise<Role> {
  const display = path.relative(projectRoot, file);
  const { data } = await loadYamlFile(file, roleSchema, display);
  const issues: ConfigIssue[] = [];
  const featureScripts: string[] = [];
  for (const [index, feature] of data.features.entries()) {
    const script = path.join(projectRoot, 'scripts', 'features', `${feature}.sh`);
    try {
      await access(script);
      featureScripts.push(script);
    } catch {
      issues.push({ path: `features.${index}`, message: `unknown feature "${feature}" (no scripts/features/${feature}.sh)` });
    }
  }
  if (issues.length > 0) throw new ConfigError(display, issues);
  return { ...data, name: path.basename(file, '.yaml'), featureScripts };
}

export function requireRole(roles: Map<string, Role>, name: string): Role {
  const role = roles.get(name);
  if (!role) {
    throw new UserError(`unknown role "${name}"`, `Known roles: ${[...roles.keys()].join(', ')}. Example: make create-docker NAME=web`, 2);
  }
  return role;
}
