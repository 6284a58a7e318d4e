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

export const cpuCores = (min: number, max: number) =>
  z.number().min(min, `must be between ${min} and ${max} cores`).max(max, `must be between ${min} and ${max} cores`);
