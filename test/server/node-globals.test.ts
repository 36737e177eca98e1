// Node 20 defines the globals Buffer, process and performance as accessors on globalThis: every
// read of one from a module calls a getter through V8's LoadGlobalIC (~9 ns, where an imported
// binding costs nothing). In the publish path that was 3% of the event loop (README, "The
// publish path"). So every file of src that uses one at run time imports it; this keeps it so.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(__dirname, '../../src');

const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : [],
  );

/** The code without comments and string contents, so that prose and messages do not count. */
const codeOf = (src: string): string =>
  src
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '')
    .replace(/'(?:[^'\\\n]|\\.)*'/g, "''")
    .replace(/`(?:[^`\\]|\\.)*`/g, '``');

/** The accessor globals a file reads at run time without importing them. */
export const unimported = (src: string): string[] => {
  const code = codeOf(src);
  const out: string[] = [];
  if (/(?<![.\w])Buffer\s*\.\s*\w+|instanceof\s+Buffer\b|new\s+Buffer\s*\(/.test(code) && !/import\s*\{[^}]*\bBuffer\b[^}]*\}\s*from\s*'node:buffer'/.test(src)) out.push('Buffer');
  if (/(?<![.\w])process\s*\.\s*\w+/.test(code) && !/import process from 'node:process'/.test(src)) out.push('process');
  if (/(?<![.\w])performance\s*\.\s*\w+/.test(code) && !/import\s*\{[^}]*\bperformance\b[^}]*\}\s*from\s*'node:perf_hooks'/.test(src)) out.push('performance');
  return out;
};

describe('Node accessor globals', () => {
  it('are getters in this Node (why the imports matter)', () => {
    for (const name of ['Buffer', 'process']) expect(typeof Object.getOwnPropertyDescriptor(globalThis, name)?.get).toBe('function');
  });

  it('the check finds a global use and accepts an import', () => {
    expect(unimported("const b = Buffer.alloc(1); // Buffer.from\n")).toEqual(['Buffer']);
    expect(unimported("import { Buffer } from 'node:buffer';\nconst b = Buffer.alloc(1);\n")).toEqual([]);
    expect(unimported("const s = 'process.env'; // process.exit\nx.process.y = 1;\n")).toEqual([]);
    expect(unimported("if (process.env.X) performance.now();\n")).toEqual(['process', 'performance']);
  });

  it('every file of src imports the ones it uses', () => {
    const missing = sources(SRC)
      .map((f) => ({ f: f.slice(SRC.length + 1), globals: unimported(readFileSync(f, 'utf8')) }))
      .filter((x) => x.globals.length > 0)
      .map((x) => `${x.f}: ${x.globals.join(', ')}`);
    expect(missing).toEqual([]);
  });
});
