// Slow tests kept out of the default `npm test` for CI's budget: `npm run test:faults` (ETL_FAULT_TESTS=1) runs the
// crashes, kills and outages; ETL_LARGE_TESTS=1 the large bases.
import { describe, it } from '@jest/globals';

export const describeFault = process.env.ETL_FAULT_TESTS ? describe : describe.skip;
export const itFault = process.env.ETL_FAULT_TESTS ? it : it.skip;
export const itLarge = process.env.ETL_LARGE_TESTS ? it : it.skip;
