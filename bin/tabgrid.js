#!/usr/bin/env node
// The CLI is TypeScript run through tsx's loader, so `npx tabgrid` works from a
// fresh clone without a separate compile step.
import { register } from 'tsx/esm/api';
register();
await import('../cli/main.ts');
