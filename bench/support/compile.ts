/**
 * Child processes run plain JavaScript: ts-node costs ~0.6 s and ~40 MB per process, which would
 * dominate a run of many short children and inflate the memory of a process under test. This
 * transpiles an entry file and the relative imports it reaches into `.tmp/bench-build` (git-ignored),
 * keeping the tree's layout so `node_modules` still resolves from the repository root.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { ROOT } from './results';

const OUT_DIR = path.join(ROOT, '.tmp/bench-build');

const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.CommonJS,
  esModuleInterop: true,
  sourceMap: false,
};

/** Transpiles `entry` (a path from the repository root) and its relative imports; returns the .js path. */
export function compileForChild(entry: string): string {
  const seen = new Set<string>();
  const pending = [path.resolve(ROOT, entry)];
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const imported of ts.preProcessFile(source, true, true).importedFiles) {
      if (imported.fileName.startsWith('.')) pending.push(resolveTs(path.dirname(file), imported.fileName));
    }
    const output = ts.transpileModule(source, { compilerOptions: COMPILER_OPTIONS, fileName: file }).outputText;
    const target = outputPath(file);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, output);
  }
  return outputPath(path.resolve(ROOT, entry));
}

function resolveTs(dir: string, specifier: string): string {
  const base = path.resolve(dir, specifier);
  return base.endsWith('.ts') ? base : `${base}.ts`;
}

function outputPath(file: string): string {
  return path.join(OUT_DIR, path.relative(ROOT, file)).replace(/\.ts$/, '.js');
}
