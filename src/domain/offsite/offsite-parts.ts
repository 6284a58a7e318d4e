import { chunkCount, HEADER_BYTES, TAG_BYTES } from '../../crypto/backup-cipher.js';

/** 8 MiB of plaintext per part with 64 KiB chunks: above S3's 5 MiB floor for every part but the last. */
const MIN_CHUNKS_PER_PART = 128;
/** S3 allows 10,000 parts; a file big enough for more gets bigger parts. */
const MAX_PARTS = 9000;

/** How a file's sealed form is cut into the parts of a multipart upload: whole chunks, the header in part 1. */
export interface PartPlan {
  size: number;
  chunkBytes: number;
  chunksPerPart: number;
  chunks: number;
  parts: number;
}

export function planParts(size: number, chunkBytes: number, chunksPerPart?: number): PartPlan {
  const chunks = chunkCount(size, chunkBytes);
  const perPart = chunksPerPart ?? Math.max(MIN_CHUNKS_PER_PART, Math.ceil(chunks / MAX_PARTS));
  return { size, chunkBytes, chunksPerPart: perPart, chunks, parts: Math.ceil(chunks / perPart) };
}

export interface PartRange {
  firstChunk: number;
  /** One past the part's last chunk. */
  chunkEnd: number;
  plainStart: number;
  plainEnd: number;
  /** What the part weighs sealed (its chunks' tags, and the header for part 1). */
  sealedBytes: number;
}

/** Pure: what part `partNumber` (from 1) holds. */
export function partRange(plan: PartPlan, partNumber: number): PartRange {
  const firstChunk = (partNumber - 1) * plan.chunksPerPart;
  const chunkEnd = Math.min(firstChunk + plan.chunksPerPart, plan.chunks);
  const plainStart = Math.min(firstChunk * plan.chunkBytes, plan.size);
  const plainEnd = Math.min(chunkEnd * plan.chunkBytes, plan.size);
  return {
    firstChunk,
    chunkEnd,
    plainStart,
    plainEnd,
    sealedBytes: (partNumber === 1 ? HEADER_BYTES : 0) + plainEnd - plainStart + (chunkEnd - firstChunk) * TAG_BYTES,
  };
}

/**
 * Pure: of the parts an interrupted upload holds, those a resumed one keeps: from part 1 on, each of the size
 * planned, up to the first gap (a part cut short or missing is uploaded again, and every one after it).
 */
export function keptParts<P extends { partNumber: number; size: number }>(plan: PartPlan, uploaded: P[]): P[] {
  const byNumber = new Map(uploaded.map((part) => [part.partNumber, part]));
  const kept: P[] = [];
  for (let number = 1; number <= plan.parts; number++) {
    const part = byNumber.get(number);
    if (!part || part.size !== partRange(plan, number).sealedBytes) break;
    kept.push(part);
  }
  return kept;
}
