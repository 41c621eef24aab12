import { z } from 'zod';
import { IMAGE_NAME, IMAGE_NAME_RULE } from '../names.js';

const imageName = z.string().regex(IMAGE_NAME, `must be ${IMAGE_NAME_RULE}`);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 is 64 lowercase hex digits');

/** How a base image is made: from an apt mirror, from a qcow2 cloud image, or from a Vagrant box. */
export const sourceSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('debootstrap'),
      distro: z.enum(['debian', 'ubuntu']),
      suite: z.string().regex(/^[a-z]+$/),
      mirror: z.union([z.literal('host'), z.string().url()]).default('host'),
      components: z.array(z.string().regex(/^[a-z-]+$/)).default(['main']),
      size: z.number().int().min(4).max(2048).default(8),
    })
    .strict(),
  z
    .object({
      type: z.literal('qcow2'),
      path: z.string().optional(),
      url: z.string().url().optional(),
      sha256,
      /**
       * The image runs cloud-init: each machine gets its own NoCloud seed (its vagrant user, key, host name and
       * its lab.yaml cloudInit: user-data). false: the image has its vagrant user already.
       */
      cloudInit: z.boolean().default(true),
      /** The guest type Vagrant would otherwise probe for after the first boot (one SSH command per type it knows). */
      guest: z.enum(['debian', 'ubuntu']).optional(),
    })
    .strict(),
  z.object({ type: z.literal('box'), name: z.string().min(1), version: z.string().optional() }).strict(),
]);

export const imageDefinitionSchema = z
  .object({
    description: z.string().min(1),
    source: sourceSchema.optional(),
    /** A role image: this role's features on top of parent. */
    role: z.string().optional(),
    parent: imageName.optional(),
  })
  .strict()
  .refine((image) => Boolean(image.source) !== Boolean(image.role && image.parent), 'an image has either a source (a base image) or a role and a parent')
  .refine((image) => image.source?.type !== 'qcow2' || Boolean(image.source.path) !== Boolean(image.source.url), {
    message: 'a qcow2 source gives exactly one of path and url',
    path: ['source'],
  });

export type ImageDefinition = z.infer<typeof imageDefinitionSchema>;
export type ImageSource = z.infer<typeof sourceSchema>;
