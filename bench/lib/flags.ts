/** Command-line flags shared by every benchmark section: `--name value`, `--name=value` or a bare `--switch`. */
export class Flags {
  private readonly values = new Map<string, string | true>();

  constructor(argv: readonly string[]) {
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i]!;
      if (!arg.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(arg)}; flags look like --name value`);
      const eq = arg.indexOf('=');
      if (eq > 0) { this.values.set(arg.slice(2, eq), arg.slice(eq + 1)); continue; }
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) { this.values.set(arg.slice(2), next); i++; }
      else this.values.set(arg.slice(2), true);
    }
  }

  /** Flags given that no section reads: a typo would otherwise run the defaults silently. */
  unknown(known: Iterable<string>): string[] {
    const k = new Set(known);
    return [...this.values.keys()].filter((n) => !k.has(n));
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  number(name: string, fallback: number): number {
    const v = this.values.get(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (v === true || !Number.isFinite(n) || n <= 0) throw new Error(`--${name} takes a positive number, got ${JSON.stringify(v)}`);
    return n;
  }

  /** Integer flags (counts): refusing 2.5 clients beats silently rounding. */
  int(name: string, fallback: number): number {
    const n = this.number(name, fallback);
    if (!Number.isInteger(n)) throw new Error(`--${name} takes an integer, got ${n}`);
    return n;
  }

  /** A flag's text; undefined when the flag is absent. */
  string(name: string): string | undefined {
    const v = this.values.get(name);
    if (v === true) throw new Error(`--${name} takes a value`);
    return v;
  }

  /** A comma-separated list (`--only a,b`); undefined when the flag is absent. */
  list(name: string): string[] | undefined {
    const v = this.values.get(name);
    if (v === undefined) return undefined;
    if (v === true) throw new Error(`--${name} takes a comma-separated list`);
    return v.split(',').map((s) => s.trim()).filter(Boolean);
  }
}
