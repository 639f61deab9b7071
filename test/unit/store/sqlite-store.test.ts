/** The Store contract against the embedded SQLite store (a temp file per test). */
import { storeContract } from './contract.ts';
import { creditContract } from './credit-contract.ts';
import { spotContract } from './spot-contract.ts';
import { submissionContract } from './submission-contract.ts';
import { reviewContract } from './review-contract.ts';
import { sqliteHarness } from './harness.ts';

storeContract('sqlite', sqliteHarness);
creditContract('sqlite', sqliteHarness);
spotContract('sqlite', sqliteHarness);
submissionContract('sqlite', sqliteHarness);
reviewContract('sqlite', sqliteHarness);
