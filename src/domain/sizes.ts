import { z } from 'zod';

const mebibytesPerUnit: Record<string, number> = { M: 1, G: 1024 };

/** `512M` or `2G` in MiB. */
export const toMebibytes = (size: string): number => Number(size.slice(0, -1)) * (mebibytesPerUnit[size.slice(-1)] ?? Number.NaN);

/** A memory size such as 512M or 2G, within [minMb, maxMb], given in MiB once parsed. */
export const memorySize = (minMb: number, maxMb: number) =>
  z
    .string()
    .regex(/^[1-9][0-9]{0,6}[MG]$/, 'must be a size such as 512M or 2G')
    .refine((value) => toMebibytes(value) >= minMb && toMebibytes(value) <= maxMb, `must be between ${minMb}M and ${maxMb / 1024}G`)
    .transform(toMebibytes);

const bytesPerUnit: Record<string, number> = { M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** `500M`, `10G` or `2T` in bytes (binary units, as memory sizes). */
export const toBytes = (size: string): number => Number(size.slice(0, -1)) * (bytesPerUnit[size.slice(-1)] ?? Number.NaN);

/** Bytes as the largest unit that gives a whole number (`10G`), for showing a size that was given that way. */
export function formatBytes(bytes: number): string {
  for (const unit of ['T', 'G', 'M'] as const) if (bytes % bytesPerUnit[unit]! === 0) return `${bytes / bytesPerUnit[unit]!}${unit}`;
  return `${bytes}`;
}

/** A storage size such as 500M, 10G or 2T, within [min, max] (sizes written the same way), given in bytes once parsed. */
export const storageSize = (min: string, max: string) =>
  z
    .string()
    .regex(/^[1-9][0-9]{0,6}[MGT]$/, 'must be a size such as 500M, 10G or 2T')
    .refine((value) => toBytes(value) >= toBytes(min) && toBytes(value) <= toBytes(max), `must be between ${min} and ${max}`)
    .transform(toBytes);

export const cpuCores = (min: number, max: number) =>
  z.number().min(min, `must be between ${min} and ${max} cores`).max(max, `must be between ${min} and ${max} cores`);
