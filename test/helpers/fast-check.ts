import type fc from 'fast-check';

/**
 * fast-check parameters for a property: `numRuns` sized for CI, and FC_SEED / FC_PATH from
 * the environment to replay a failure that fast-check reported.
 */
const seed = process.env['FC_SEED'] === undefined ? undefined : Number(process.env['FC_SEED']);
const path = process.env['FC_PATH'];

export const params = <T>(numRuns: number): fc.Parameters<T> => ({
  numRuns,
  ...(seed === undefined ? {} : { seed }),
  ...(path === undefined ? {} : { path }),
});
