import { z } from 'zod';
import { base64Key, int, urlWithScheme } from './rules.js';

/** Variables that may come from a file (`NAME_FILE`, a Docker secret). */
export const offsiteSecretNames = [
  'BACKUP_S3_ACCESS_KEY_ID',
  'BACKUP_S3_SECRET_ACCESS_KEY',
  'BACKUP_ENCRYPTION_KEY',
  'BACKUP_ENCRYPTION_KEY_PREVIOUS',
];

// Sent as they are in a signed request: printable ASCII only.
const credential = z.string().regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/**
 * Where every backup also goes, encrypted: an S3-compatible bucket (radosgw here). No bucket: backups stay local
 * only. How long local copies stay once their off-site copy is complete, and how failed uploads are retried.
 */
export const offsiteSection = z
  .object({
    BACKUP_S3_ENDPOINT: urlWithScheme(['http:', 'https:'])
      .refine(
        (value) => !URL.canParse(value) || (!new URL(value).username && !new URL(value).password),
        'must not carry credentials (use BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY)',
      )
      .optional()
      .describe('an S3-compatible server (radosgw: `http://host:7480`)')
      .meta({ shownDefault: 'AWS' }),
    BACKUP_S3_REGION: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a region name (letters, digits, - and _)')
      .default('us-east-1')
      .describe("the bucket's region"),
    BACKUP_S3_BUCKET: z
      .string()
      .regex(/^(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a bucket name: 3-63 lower-case letters, digits, dots and hyphens')
      .optional()
      .describe(
        'the bucket every backup also goes to, encrypted (see [Off-site copies](architecture.md#off-site-copies)); without it backups stay local only',
      ),
    BACKUP_S3_PREFIX: z
      .string()
      .regex(/^(?!\/)[A-Za-z0-9!_.*'()/-]{1,200}$/, "must be up to 200 of A-Z a-z 0-9 ! _ . * ' ( ) - /, not starting with /")
      .optional()
      .describe('the key prefix of backups in the bucket'),
    BACKUP_S3_ACCESS_KEY_ID: credential
      .optional()
      .describe("the bucket's access key, with `BACKUP_S3_SECRET_ACCESS_KEY` or neither (neither: `AWS_*` variables, an instance role)")
      .meta({ shownDefault: "the SDK's chain" }),
    BACKUP_S3_SECRET_ACCESS_KEY: credential
      .optional()
      .describe("the bucket's secret key, with `BACKUP_S3_ACCESS_KEY_ID` or neither")
      .meta({ shownDefault: "the SDK's chain" }),
    BACKUP_S3_FORCE_PATH_STYLE: z
      .enum(['true', 'false'], { message: 'must be true or false' })
      .optional()
      .describe('path-style addressing (radosgw), else virtual-hosted')
      .meta({ shownDefault: '`true` with an endpoint' }),
    BACKUP_ENCRYPTION_KEY: base64Key
      .optional()
      .describe('32 bytes, base64: what backups are encrypted under before they leave; keep a copy away from the cluster')
      .meta({ shownDefault: 'required with a bucket' }),
    BACKUP_ENCRYPTION_KEY_PREVIOUS: base64Key
      .optional()
      .describe('key rotation: off-site copies sealed under it still open; new ones use `BACKUP_ENCRYPTION_KEY`'),
    BACKUP_KEEP_LOCAL_DAYS: int(0, 3650)
      .optional()
      .describe('local copies of backups older than this go once their off-site copy is complete')
      .meta({ shownDefault: 'none (as the row)' }),
    BACKUP_S3_RETRY_BASE_SECONDS: int(1, 3600)
      .default(30)
      .describe('a failed upload is tried again after this, doubling with each failure up to `BACKUP_S3_RETRY_MAX_SECONDS`'),
    BACKUP_S3_RETRY_MAX_SECONDS: int(1, 7 * 24 * 3600)
      .default(3600)
      .describe('the longest wait before a failed upload is tried again'),
  })
  .superRefine((e, context) => {
    const issue = (path: string, message: string) => context.addIssue({ code: 'custom', path: [path], message });
    if (e.BACKUP_S3_BUCKET && !e.BACKUP_ENCRYPTION_KEY)
      issue('BACKUP_ENCRYPTION_KEY', 'is required when BACKUP_S3_BUCKET is set (backups are encrypted before they leave)');
    if (!e.BACKUP_S3_ACCESS_KEY_ID !== !e.BACKUP_S3_SECRET_ACCESS_KEY)
      issue(e.BACKUP_S3_ACCESS_KEY_ID ? 'BACKUP_S3_SECRET_ACCESS_KEY' : 'BACKUP_S3_ACCESS_KEY_ID', 'is required with the other S3 key');
    if (e.BACKUP_ENCRYPTION_KEY_PREVIOUS && e.BACKUP_ENCRYPTION_KEY_PREVIOUS === e.BACKUP_ENCRYPTION_KEY)
      issue('BACKUP_ENCRYPTION_KEY_PREVIOUS', 'must differ from BACKUP_ENCRYPTION_KEY');
    if (e.BACKUP_ENCRYPTION_KEY_PREVIOUS && !e.BACKUP_ENCRYPTION_KEY)
      issue('BACKUP_ENCRYPTION_KEY', 'is required when BACKUP_ENCRYPTION_KEY_PREVIOUS is set');
  })
  .transform((e) => ({
    offsite: {
      /** The bucket every backup is uploaded to; null: backups stay local only. */
      destination: e.BACKUP_S3_BUCKET
        ? {
            endpoint: e.BACKUP_S3_ENDPOINT ?? null,
            region: e.BACKUP_S3_REGION,
            bucket: e.BACKUP_S3_BUCKET,
            /** Object keys start with it: `<prefix><instance id>/<backup id>/<file>`. */
            prefix: e.BACKUP_S3_PREFIX ? e.BACKUP_S3_PREFIX.replace(/\/*$/, '/') : '',
            /** radosgw and most other S3 servers are addressed by path: the default with an endpoint. */
            forcePathStyle: e.BACKUP_S3_FORCE_PATH_STYLE ? e.BACKUP_S3_FORCE_PATH_STYLE === 'true' : Boolean(e.BACKUP_S3_ENDPOINT),
            /** Null: the SDK's own chain (AWS_* variables, an instance role). */
            credentials:
              e.BACKUP_S3_ACCESS_KEY_ID && e.BACKUP_S3_SECRET_ACCESS_KEY
                ? { accessKeyId: e.BACKUP_S3_ACCESS_KEY_ID, secretAccessKey: e.BACKUP_S3_SECRET_ACCESS_KEY }
                : null,
          }
        : null,
      /** What backups are encrypted under before they leave; the previous key still opens older ones. */
      encryptionKey: e.BACKUP_ENCRYPTION_KEY ? Buffer.from(e.BACKUP_ENCRYPTION_KEY, 'base64') : null,
      encryptionKeyPrevious: e.BACKUP_ENCRYPTION_KEY_PREVIOUS ? Buffer.from(e.BACKUP_ENCRYPTION_KEY_PREVIOUS, 'base64') : null,
      /** A local copy whose off-site copy is complete goes after this many days; null: it stays as long as the row. */
      keepLocalDays: e.BACKUP_KEEP_LOCAL_DAYS ?? null,
      /** A failed upload is tried again after this, doubling with each failure, never more than the maximum. */
      retryBaseSeconds: e.BACKUP_S3_RETRY_BASE_SECONDS,
      retryMaxSeconds: e.BACKUP_S3_RETRY_MAX_SECONDS,
    },
  }))
  .meta({ title: 'Off-site copies' });

export type OffsiteConfig = z.output<typeof offsiteSection>['offsite'];
export type OffsiteDestination = NonNullable<OffsiteConfig['destination']>;
