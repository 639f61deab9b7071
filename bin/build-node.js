#!/usr/bin/env node
// Compiles the coordinator and the CLI (server/, cli/, shared/) to JavaScript in
// dist/node, so `bin/tabgrid.js` runs no transpiler. Each file is transpiled on
// its own by TypeScript's transpileModule (the sources are isolatedModules), with
// relative `.ts` imports rewritten to `.js`: a few seconds, where a whole-program
// `tsc` spends most of its time loading declaration files. Type errors are
// `npm run typecheck`'s job; this only emits.
//
//   node bin/build-node.js             build
//   node bin/build-node.js --if-stale  build only when the sources changed since the last build
//   node bin/build-node.js --check     exit 1 (saying so) when the build is missing or stale
//
// A build is stamped with a hash of its sources, which is what "stale" compares.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '..');
const OUT = join(ROOT, 'dist/node');
const STAMP = join(OUT, 'build-stamp.json');
const SOURCE_DIRS = ['server', 'cli', 'shared'];
// What shapes the output besides the sources: this script (its compiler options) and the compiler.
const INPUTS = [import.meta.filename, join(ROOT, 'node_modules/typescript/package.json')];
const COMPILER_OPTIONS = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  verbatimModuleSyntax: true,
  rewriteRelativeImportExtensions: true,
  sourceMap: true,
};

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? files(p) : e.isFile() ? [p] : [];
  });
}

function sourcesHash() {
  const h = createHash('sha256');
  const all = [...SOURCE_DIRS.flatMap((d) => files(join(ROOT, d))), ...INPUTS].sort();
  for (const f of all) h.update(relative(ROOT, f)).update('\0').update(readFileSync(f)).update('\0');
  return h.digest('hex');
}

function builtHash() {
  try { return JSON.parse(readFileSync(STAMP, 'utf8')).sources; } catch { return null; }
}

function build(hash) {
  // Emitted beside the old build, then swapped in, so a coordinator starting meanwhile never sees half a build.
  const tmp = `${OUT}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    const sources = SOURCE_DIRS.flatMap((d) => files(join(ROOT, d))).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
    for (const src of sources) {
      const rel = relative(ROOT, src);
      const out = join(tmp, rel.replace(/\.ts$/, '.js'));
      const r = ts.transpileModule(readFileSync(src, 'utf8'), { fileName: src, compilerOptions: COMPILER_OPTIONS, reportDiagnostics: true });
      if (r.diagnostics?.length) throw new Error(`${rel}: ${ts.formatDiagnostics(r.diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => '\n' })}`);
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, r.outputText.replace(/\/\/# sourceMappingURL=.*$/m, `//# sourceMappingURL=${basename(out)}.map`));
      const map = JSON.parse(r.sourceMapText);
      map.sources = [relative(dirname(out), src)]; // dist/node.tmp-N/ and dist/node/ are equally deep
      writeFileSync(`${out}.map`, JSON.stringify(map));
    }
    emitClientTypes(tmp);
    writeFileSync(join(tmp, 'build-stamp.json'), `${JSON.stringify({ sources: hash })}\n`);
    rmSync(OUT, { recursive: true, force: true });
    renameSync(tmp, OUT);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Declarations for the package's `tabgrid/client` export (package.json `types`), so a submitter's TypeScript
 * checks against plain .d.ts files instead of this repository's sources (which import `.ts` paths). One
 * program over the client's imports only; the rest of dist/node ships without declarations.
 */
function emitClientTypes(outDir) {
  const program = ts.createProgram([join(ROOT, 'shared/http/client.ts')], {
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'], types: [], strict: true, skipLibCheck: true, verbatimModuleSyntax: true,
    allowImportingTsExtensions: true, rewriteRelativeImportExtensions: true,
    declaration: true, emitDeclarationOnly: true, rootDir: ROOT, outDir,
  });
  // Relative `.ts` specifiers as the emitted JavaScript has them (`.js`): declaration emit keeps them as written.
  const write = (file, text) => {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text.replace(/(from\s+['"]\.{1,2}\/[^'"]+)\.ts(['"])/g, '$1.js$2'));
  };
  const r = program.emit(undefined, write);
  const problems = [...ts.getPreEmitDiagnostics(program), ...r.diagnostics].filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (problems.length) throw new Error(`declarations of tabgrid/client: ${ts.formatDiagnostics(problems, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => '\n' })}`);
}

const mode = process.argv[2];
const hash = sourcesHash();
if (mode === '--check') {
  const built = builtHash();
  if (built === hash) process.exit(0);
  process.stderr.write(built === null
    ? 'tabgrid: dist/node is missing; run `npm run build`\n'
    : 'tabgrid: dist/node is older than the sources in server/, cli/ or shared/; run `npm run build`\n');
  process.exit(1);
} else if (mode === '--if-stale') {
  if (builtHash() !== hash) {
    process.stderr.write(`tabgrid: ${existsSync(OUT) ? 'sources changed' : 'no build yet'}, compiling to dist/node\n`);
    build(hash);
  }
} else if (mode === undefined) {
  build(hash);
} else {
  process.stderr.write('usage: build-node.js [--if-stale | --check]\n');
  process.exit(2);
}
