import type { S3Client } from '@aws-sdk/client-s3';
import type { OffsiteDestination } from '../config/config.js';

type Sdk = typeof import('@aws-sdk/client-s3');

/**
 * The SDK is loaded when a bucket is first used: it costs a process about 20 MiB and, on a busy machine, a second
 * to import, which a daemon without a destination (and every test daemon but the off-site suite's) never pays.
 */
let sdk: Promise<Sdk> | null = null;
const loadSdk = (): Promise<Sdk> => (sdk ??= import('@aws-sdk/client-s3'));

/** The bucket backups go to, through the AWS SDK; every call names the object, never a credential. */
export interface Bucket {
  name: string;
  /** Every key starts with it (BACKUP_S3_PREFIX). */
  prefix: string;
  client: () => Promise<S3Client>;
  close: () => void;
}

/** A connection that does not open within this long fails: an unreachable endpoint is reported, not waited for. */
const CONNECT_TIMEOUT_MS = 5000;
/** A request whose socket sees no byte for this long fails. */
const IDLE_TIMEOUT_MS = 60_000;

export function connectBucket(destination: OffsiteDestination): Bucket {
  let client: Promise<S3Client> | null = null;
  const make = async () =>
    new (await loadSdk()).S3Client({
      region: destination.region,
      ...(destination.endpoint ? { endpoint: destination.endpoint } : {}),
      forcePathStyle: destination.forcePathStyle,
      ...(destination.credentials ? { credentials: destination.credentials } : {}),
      // radosgw (Ceph 16) does not read the aws-chunked bodies with trailing checksums the SDK sends by default.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, socketTimeout: IDLE_TIMEOUT_MS },
    });
  return {
    name: destination.bucket,
    prefix: destination.prefix,
    client: () => (client ??= make()),
    close: () => void client?.then((made) => made.destroy()),
  };
}

/** A failed call: `notFound` when the object (or multipart upload) does not exist. */
export class S3Error extends Error {
  override readonly name = 'S3Error';
  constructor(
    message: string,
    readonly notFound: boolean,
  ) {
    super(message);
  }
}

type SendOptions = { abortSignal?: AbortSignal };

/** One request, named in its error; `signal` cuts it short (a leader that stops does not wait for a stalled request). */
async function send<Output>(
  bucket: Bucket,
  what: string,
  signal: AbortSignal | undefined,
  request: (s3: Sdk, client: S3Client, options: SendOptions) => Promise<Output>,
): Promise<Output> {
  const [s3, client] = await Promise.all([loadSdk(), bucket.client()]);
  try {
    return await request(s3, client, { abortSignal: signal });
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const reason = (error as Error).message || (error as Error).name || String(error);
    throw new S3Error(`S3 ${what}: ${status ? `${status} ` : ''}${reason}`, status === 404);
  }
}

export async function checkBucket(bucket: Bucket, signal?: AbortSignal): Promise<void> {
  await send(bucket, `bucket ${bucket.name}`, signal, (s3, client, options) =>
    client.send(new s3.HeadBucketCommand({ Bucket: bucket.name }), options),
  );
}

export async function startMultipart(bucket: Bucket, key: string, signal?: AbortSignal): Promise<string> {
  const { UploadId } = await send(bucket, `start upload of ${key}`, signal, (s3, client, options) =>
    client.send(new s3.CreateMultipartUploadCommand({ Bucket: bucket.name, Key: key, ContentType: 'application/octet-stream' }), options),
  );
  if (!UploadId) throw new S3Error(`S3 start upload of ${key}: no upload id in the answer`, false);
  return UploadId;
}

export async function uploadPart(
  bucket: Bucket,
  key: string,
  uploadId: string,
  partNumber: number,
  body: Buffer,
  signal: AbortSignal,
): Promise<string> {
  const { ETag } = await send(bucket, `part ${partNumber} of ${key}`, signal, (s3, client, options) =>
    client.send(
      new s3.UploadPartCommand({
        Bucket: bucket.name,
        Key: key,
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: body,
        ContentLength: body.length,
      }),
      options,
    ),
  );
  if (!ETag) throw new S3Error(`S3 part ${partNumber} of ${key}: no ETag in the answer`, false);
  return ETag;
}

export interface UploadedPart {
  partNumber: number;
  size: number;
  etag: string;
}

/** The parts a multipart upload holds so far, in order; null when the upload is gone (completed or aborted). */
export async function listParts(bucket: Bucket, key: string, uploadId: string, signal?: AbortSignal): Promise<UploadedPart[] | null> {
  const parts: UploadedPart[] = [];
  let marker: string | undefined;
  try {
    for (;;) {
      const page = await send(bucket, `parts of ${key}`, signal, (s3, client, options) =>
        client.send(new s3.ListPartsCommand({ Bucket: bucket.name, Key: key, UploadId: uploadId, PartNumberMarker: marker }), options),
      );
      for (const part of page.Parts ?? []) parts.push({ partNumber: part.PartNumber!, size: part.Size ?? -1, etag: part.ETag! });
      if (!page.IsTruncated || !page.NextPartNumberMarker) return parts;
      marker = page.NextPartNumberMarker;
    }
  } catch (error) {
    if (error instanceof S3Error && error.notFound) return null;
    throw error;
  }
}

export async function completeMultipart(
  bucket: Bucket,
  key: string,
  uploadId: string,
  parts: { partNumber: number; etag: string }[],
  signal?: AbortSignal,
): Promise<void> {
  const Parts = parts.map((part) => ({ PartNumber: part.partNumber, ETag: part.etag }));
  await send(bucket, `complete upload of ${key}`, signal, (s3, client, options) =>
    client.send(
      new s3.CompleteMultipartUploadCommand({ Bucket: bucket.name, Key: key, UploadId: uploadId, MultipartUpload: { Parts } }),
      options,
    ),
  );
}

/** The multipart uploads under `prefix` that were started and neither completed nor aborted. */
export async function unfinishedUploads(bucket: Bucket, prefix: string): Promise<{ key: string; uploadId: string }[]> {
  const uploads: { key: string; uploadId: string }[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const page = await send(bucket, `uploads under ${prefix}`, undefined, (s3, client, options) =>
      client.send(
        new s3.ListMultipartUploadsCommand({ Bucket: bucket.name, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
        options,
      ),
    );
    uploads.push(...(page.Uploads ?? []).map((upload) => ({ key: upload.Key!, uploadId: upload.UploadId! })));
    if (!page.IsTruncated) return uploads;
    keyMarker = page.NextKeyMarker;
    uploadIdMarker = page.NextUploadIdMarker;
  }
}

/** Drops an unfinished upload's parts; one already gone is fine. */
export async function abortMultipart(bucket: Bucket, key: string, uploadId: string, signal?: AbortSignal): Promise<void> {
  try {
    await send(bucket, `abort upload of ${key}`, signal, (s3, client, options) =>
      client.send(new s3.AbortMultipartUploadCommand({ Bucket: bucket.name, Key: key, UploadId: uploadId }), options),
    );
  } catch (error) {
    if (!(error instanceof S3Error && error.notFound)) throw error;
  }
}

export async function putObject(bucket: Bucket, key: string, body: Buffer, signal?: AbortSignal): Promise<void> {
  await send(bucket, `put ${key}`, signal, (s3, client, options) =>
    client.send(
      new s3.PutObjectCommand({
        Bucket: bucket.name,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ContentType: 'application/octet-stream',
      }),
      options,
    ),
  );
}

/** The object's bytes as they arrive. */
export async function getObject(bucket: Bucket, key: string, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
  const { Body } = await send(bucket, `get ${key}`, signal, (s3, client, options) =>
    client.send(new s3.GetObjectCommand({ Bucket: bucket.name, Key: key }), options),
  );
  if (!Body) throw new S3Error(`S3 get ${key}: no body in the answer`, false);
  return Body as AsyncIterable<Uint8Array>;
}

export async function getObjectBytes(bucket: Bucket, key: string): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of await getObject(bucket, key)) parts.push(part);
  return Buffer.concat(parts);
}

/** Every key under `prefix`. */
export async function listKeys(bucket: Bucket, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await send(bucket, `list ${prefix}`, undefined, (s3, client, options) =>
      client.send(new s3.ListObjectsV2Command({ Bucket: bucket.name, Prefix: prefix, ContinuationToken: token }), options),
    );
    keys.push(...(page.Contents ?? []).map((object) => object.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** One object: a backup has three. */
export async function deleteObject(bucket: Bucket, key: string): Promise<void> {
  await send(bucket, `delete ${key}`, undefined, (s3, client, options) =>
    client.send(new s3.DeleteObjectCommand({ Bucket: bucket.name, Key: key }), options),
  );
}
