// A node:test reporter for scripts/differential.mjs: one JSON line per finished test (leaf tests
// and suites, with the names of the suites around it), so outcomes can be compared by name.
// Used as `node --test --test-reporter=./node-test-reporter.mjs --test-concurrency=1 …`.
export default async function* reporter(source) {
  const stack = []; // names of the tests started at each nesting level of the current file
  for await (const ev of source) {
    const d = ev.data ?? {};
    if (ev.type === 'test:start') {
      stack.length = d.nesting;
      stack[d.nesting] = d.name;
    } else if (ev.type === 'test:pass' || ev.type === 'test:fail') {
      stack.length = d.nesting;
      const details = d.details ?? {};
      const err = details.error;
      const cause = err?.cause ?? err;
      yield `${JSON.stringify({
        file: d.file,
        path: [...stack, d.name],
        kind: details.type ?? 'test',
        outcome: d.skip !== undefined ? 'skip' : d.todo !== undefined ? 'todo' : ev.type === 'test:pass' ? 'pass' : 'fail',
        ms: details.duration_ms,
        error: ev.type === 'test:fail' && cause ? String(cause.message ?? cause).slice(0, 500) : undefined,
      })}\n`;
    }
  }
}
