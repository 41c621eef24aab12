import { z } from 'zod';

/**
 * A machine's shared folders and data disks (issue 17): what lab.yaml may say about them. The folder's
 * host side must exist (checked with the other files, storage-checks.ts); the guest side is absolute.
 */
const GUEST_PATH = /^\/[A-Za-z0-9._/-]*$/;

/** "./src": /home/vagrant/src -- host folder (relative to lab.yaml's folder) to the guest path it appears at. */
export const foldersSchema = z.record(
  z.string().min(1, 'a host folder, relative to lab.yaml or absolute'),
  z.string().regex(GUEST_PATH, 'must be an absolute guest path of plain characters, such as /home/vagrant/src'),
);

export const dataDiskSchema = z
  .object({
    /** GiB; a new qcow2 volume, thin (takes room only as the guest writes). */
    size: z.number({ invalid_type_error: 'size is a whole number of GiB, such as 20' }).int('size is a whole number of GiB, such as 20').min(1).max(2048),
    /** Where the guest mounts it (formatted ext4 at first boot); without it the disk is left raw. */
    mount: z.string().regex(GUEST_PATH, 'must be an absolute guest path of plain characters, such as /data').refine((text) => text !== '/', 'cannot be /').optional(),
  })
  .strict();

/** At most 20 data disks: their targets are vdb..vdu. */
export const dataDisksSchema = z.array(dataDiskSchema).max(20, 'at most 20 data disks');

export type DataDiskSpec = z.infer<typeof dataDiskSchema>;

/** The serial a data disk has in the guest (/sys/block/vdX/serial), by its place in disks: (from 1). */
export function dataDiskSerial(index: number): string {
  return `vmlab-data-${index + 1}`;
}
