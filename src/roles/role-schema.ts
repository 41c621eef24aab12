import { z } from 'zod';
import { IMAGE_NAME, IMAGE_NAME_RULE } from '../names.js';

export const resourcesSchema = z
  .object({
    // "memory: 2G" is the usual slip: say the unit and show a value that works.
    cpus: z.number({ invalid_type_error: 'cpus is a whole number of vCPUs, such as 2' }).int('cpus is a whole number of vCPUs, such as 2').min(1).max(64),
    memory: z
      .number({ invalid_type_error: 'memory is a whole number of MiB, such as 2048 (for 2 GiB)' })
      .int('memory is a whole number of MiB, such as 2048 (for 2 GiB)')
      .min(256, 'memory is in MiB and must be at least 256')
      .max(262144),
    disk: z.number({ invalid_type_error: 'disk is a whole number of GiB, such as 20' }).int('disk is a whole number of GiB, such as 20').min(5, 'disk is in GiB and must be at least 5').max(2048),
  })
  .strict();

const imageName = z.string().regex(IMAGE_NAME, `must be ${IMAGE_NAME_RULE}`);

export const roleSchema = z
  .object({
    description: z.string().min(1),
    image: imageName,
    parent: imageName,
    resources: resourcesSchema,
    features: z.array(z.string().regex(/^[a-z][a-z0-9-]*$/, 'must name scripts/features/<feature>.sh')).min(1),
    settings: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/, 'setting names are lowercase_with_underscores'), z.string()).default({}),
    healthchecks: z
      .array(z.object({ name: z.string().min(1), run: z.string().min(1) }).strict())
      .default([]),
  })
  .strict();

export type RoleFile = z.infer<typeof roleSchema>;
export type Resources = z.infer<typeof resourcesSchema>;

export interface Role extends RoleFile {
  name: string;
  /** Absolute paths of the feature scripts, in order. */
  featureScripts: string[];
}
