/** Number formatting for the page: credits can be tiny fractions (small models earn little per shard). */

export function formatCredits(v: number): string {
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs < 0.001) return v.toExponential(2);
  if (abs < 1) return v.toLocaleString(undefined, { maximumSignificantDigits: 3 });
  return v.toLocaleString(undefined, { maximumFractionDigits: 2 });
}
