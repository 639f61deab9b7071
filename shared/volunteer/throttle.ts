/**
 * Duty-cycle throttle: after computing for t ms at intensity d (0 < d <= 1),
 * rest t·(1−d)/d ms, so the device works a fraction d of the time in short,
 * even slices instead of coarse on/off bursts (volunteers quit over fan noise).
 */
export function restAfter(computeMs: number, intensity: number): number {
  const d = Math.min(1, Math.max(0.05, intensity));
  return Math.round((computeMs * (1 - d)) / d);
}
