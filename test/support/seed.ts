/**
 * One seed per test run for every property test: SWOOSH_SEED when set (to replay a failure),
 * otherwise fresh. Each suite announces it so any failure can be reproduced.
 */
function chooseSeed(): number {
  const raw = process.env['SWOOSH_SEED'];
  if (raw === undefined || raw === '') return (Date.now() ^ (Math.random() * 0x1_0000_0000)) | 0;
  const seed = Number(raw);
  if (!Number.isSafeInteger(seed)) throw new Error(`SWOOSH_SEED must be an integer, got ${raw}`);
  return seed;
}

/** The run's seed. */
export const SEED = chooseSeed();

/** Log the seed for a suite and return it. */
export function announceSeed(label: string): number {
  console.info(`[${label}] fast-check seed ${SEED} (replay with SWOOSH_SEED=${SEED})`);
  return SEED;
}
