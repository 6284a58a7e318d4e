import { z } from 'zod';
import { isLoopback, urlWithScheme } from './rules.js';

/** How the frontend's customer tokens (JWT, `sub` = customer id) are verified; neither way set: no customer access. */
export const customerAuthSection = z
  .object({
    JWT_SECRET: z
      .string()
      .min(32, 'must be at least 32 characters (HS256)')
      .optional()
      .describe('HS256 secret of customer tokens from the frontend (32+ characters; not with `JWT_JWKS_URL`)'),
    JWT_JWKS_URL: urlWithScheme(['https:', 'http:'])
      .refine(
        (value) => !URL.canParse(value) || new URL(value).protocol === 'https:' || isLoopback(new URL(value).hostname),
        'must be https (http only on localhost)',
      )
      .optional()
      .describe('JWKS of customer tokens from the frontend (not with `JWT_SECRET`; https except on localhost)'),
    JWT_ISSUER: z.string().min(1).optional().describe('the issuer (`iss`) customer tokens must name, when set'),
    JWT_AUDIENCE: z.string().min(1).optional().describe('the audience (`aud`) customer tokens must name, when set'),
  })
  .superRefine((e, context) => {
    if (e.JWT_SECRET && e.JWT_JWKS_URL) {
      context.addIssue({
        code: 'custom',
        path: ['JWT_JWKS_URL'],
        message: 'cannot be set together with JWT_SECRET (choose one way to verify customer tokens)',
      });
    }
  })
  .transform((e) => ({
    customerAuth: {
      hs256Secret: e.JWT_SECRET ?? null,
      jwksUrl: e.JWT_JWKS_URL ?? null,
      issuer: e.JWT_ISSUER ?? null,
      audience: e.JWT_AUDIENCE ?? null,
    },
  }))
  .meta({ title: 'Customer tokens' });
