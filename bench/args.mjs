// The `--name value` flags of the standalone bench scripts (run.mjs has its own parser).

/** The value after `--name` on the command line, or def when the flag is absent. */
export const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
