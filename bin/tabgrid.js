#!/usr/bin/env node
// The CLI as shipped: the compiled JavaScript in dist/node (`npm run build`),
// so no TypeScript transpiler runs here.
import { existsSync } from 'node:fs';

const main = new URL('../dist/node/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('tabgrid: the compiled CLI (dist/node/cli/main.js) is missing; run `npm run build` first\n');
  process.exit(1);
}
await import(main.href);
