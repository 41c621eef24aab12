import { z } from 'zod';
import { IMAGE_NAME, IMAGE_NAME_RULE, MACHINE_NAME, MACHINE_NAME_RULE, ROLE_NAME } from '../names.js';
import { resourcesSchema } from '../roles/role-schema.js';

export const DRIVERS = ['auto', 'kvm', 'qemu'] as const;
export type DriverChoice = (typeof DRIVERS)[number];

export const machineSchema = z
  .object({
    role: z.string().regex(ROLE_NAME, 'must name a role in roles/'),
    image: z.string().regex(IMAGE_NAME, `must be ${IMAGE_NAME_RULE}`).optional(),
    ...resourcesSchema.partial().shape,
  })
  .strict();

export const labSchema = z
  .object({
    /** Part of every libvirt object name: vmlab-<name>-<machine>. */
    name: z.string().regex(/^[a-z][a-z0-9]{0,15}$/, 'lowercase letters and digits, at most 16').default('lab'),
    driver: z.enum(DRIVERS).default('auto'),
    machines: z
      .record(z.string().regex(MACHINE_NAME, `machine names are ${MACHINE_NAME_RULE}`), machineSchema)
      .nullable()
      .default({})
      .transform((machines) => machines ?? {}),
  })
  .strict();

export type Lab = z.infer<typeof labSchema>;
export type MachineSpec = z.infer<typeof machineSchema>;
