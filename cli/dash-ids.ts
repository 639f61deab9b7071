/**
 * Job ids made before ids sorted by time (server/store/ids.ts) are 22 random
 * base64url characters, so one in 64 begins with '-', and the option parser
 * reads `tabgrid status -P7L…` as an unknown option. A token of exactly that
 * shape can never be an option of ours (long options start with '--', short
 * ones are one letter), so it is moved behind a `--`, where it can only be
 * the job id. Values of options that take one are left where they are.
 */
const DASH_ID = /^-[A-Za-z0-9_-]{21}$/;

/**
 * argv as process.argv gives it ([node, script, command, ...]); `valueOptions`
 * are the command's options that take a value (`--server`, `--out`, ...).
 */
export function moveDashIds(argv: readonly string[], valueOptions: ReadonlySet<string>): string[] {
  const rest = argv.slice(3);
  if (rest.includes('--')) return [...argv];
  const kept: string[] = [];
  const ids: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const t = rest[i]!;
    if (valueOptions.has(t) && i + 1 < rest.length) { kept.push(t, rest[++i]!); continue; }
    if (DASH_ID.test(t)) ids.push(t); else kept.push(t);
  }
  return ids.length ? [...argv.slice(0, 3), ...kept, '--', ...ids] : [...argv];
}
