// The field types the configuration schema is built from: each reads one environment variable (a string or unset).

import { z } from 'zod';

/** A whole number, at least `min`; unset: `fallback`. */
export const integer = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);

/** Trimmed text; unset or blank: undefined. */
export const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

/** Accepts true/false, 1/0, yes/no in any case (seed 000 writes STREAMING_RESPONSE=True). */
export const booleanText = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((value, context) => {
      if (value === undefined || value.trim() === '') return fallback;
      const normalised = value.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(normalised)) return true;
      if (['false', '0', 'no', 'off'].includes(normalised)) return false;
      context.addIssue({ code: 'custom', message: 'expected true or false' });
      return z.NEVER;
    });

/** One of `values`, in any case and with surrounding spaces; unset or empty: `fallback`. */
export const caseless = <const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) =>
  z
    .string()
    .optional()
    .transform((value) => (value ?? '').trim().toLowerCase() || fallback)
    .pipe(z.enum(values));
