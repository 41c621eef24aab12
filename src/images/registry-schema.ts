import { z } from 'zod';

/** One built image in the registry. The index is the single source of truth for what exists. */
export const imageRecordSchema = z
  .object({
    name: z.string(),
    kind: z.enum(['base', 'role', 'custom']),
    role: z.string().nullable(),
    /** How it was made, in words: "debootstrap debian bookworm", "qcow2 /path", "export of web". */
    source: z.string(),
    parent: z.string().nullable(),
    created: z.string(),
    /** Size of the .box file on disk. */
    sizeBytes: z.number().int().nonnegative(),
    virtualSizeBytes: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    inputDigest: z.string(),
    /** Features baked into the image (its parent's and its own). */
    features: z.array(z.string()).default([]),
    /** The .box file in the image's registry folder. */
    file: z.string(),
    box: z.string(),
    boxVersion: z.string(),
    /** Earlier builds whose pool volume still carried a VM when they were replaced; image-rm removes them. */
    retiredVersions: z.array(z.string()).default([]),
    /** Seconds the build took; the ETA of later builds comes from these. */
    buildSeconds: z.number().nonnegative().optional(),
    /**
     * Set by a failed `make images-verify` (when, and what it found); cleared by a verify that passes or a
     * rebuild. A damaged image is refused by create and build until then.
     */
    damaged: z.object({ at: z.string(), problems: z.array(z.string()) }).strict().optional(),
  })
  .strict();

export const registryIndexSchema = z
  .object({
    version: z.literal(1),
    images: z.record(imageRecordSchema),
  })
  .strict();

export type ImageRecord = z.infer<typeof imageRecordSchema>;
export type RegistryIndex = z.infer<typeof registryIndexSchema>;
