// `node --import <this file>` with TABGRID_LOADS_FILE set: every module the
// process (and its worker threads, which inherit --import) loads through the ESM
// loader is appended to that file, one URL a line, so a test can say what ran.
import { register } from 'node:module';

const file = process.env.TABGRID_LOADS_FILE;
if (!file) throw new Error('load-recorder: set TABGRID_LOADS_FILE');
register(new URL('./load-recorder-hooks.mjs', import.meta.url), { data: { file } });
