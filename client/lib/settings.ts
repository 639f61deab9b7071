/** The volunteer's choices, remembered in localStorage (small, synchronous, per profile). */

export interface Settings {
  /** Fraction of time spent computing, 0.05..1. */
  intensity: number;
  pauseWhenHidden: boolean;
  /** Pause when discharging below this battery percentage; 0 never pauses. */
  batteryThreshold: number;
  wallet: string;
}

export const DEFAULT_SETTINGS: Settings = { intensity: 0.6, pauseWhenHidden: true, batteryThreshold: 30, wallet: '' };

const KEY = 'tabgrid.settings';

export function loadSettings(): Settings {
  try {
    const raw = JSON.parse(localStorage.getItem(KEY) ?? '{}') as Partial<Settings>;
    return {
      intensity: typeof raw.intensity === 'number' ? Math.min(1, Math.max(0.05, raw.intensity)) : DEFAULT_SETTINGS.intensity,
      pauseWhenHidden: typeof raw.pauseWhenHidden === 'boolean' ? raw.pauseWhenHidden : DEFAULT_SETTINGS.pauseWhenHidden,
      batteryThreshold: typeof raw.batteryThreshold === 'number' ? raw.batteryThreshold : DEFAULT_SETTINGS.batteryThreshold,
      wallet: typeof raw.wallet === 'string' ? raw.wallet : DEFAULT_SETTINGS.wallet,
    };
  } catch {
    return { ...DEFAULT_SETTINGS };
  }
}

export function saveSettings(s: Settings): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(s));
  } catch { /* storage disabled: settings last for this visit */ }
}
