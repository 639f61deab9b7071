/**
 * When to pause without being asked: while the tab is hidden (the volunteer is
 * not watching, and browsers throttle hidden tabs anyway) and while the device
 * runs on battery below a threshold, where the Battery API exists.
 */

interface BatteryManager extends EventTarget {
  charging: boolean;
  level: number;
}

export interface PowerPolicyOptions {
  pauseWhenHidden: boolean;
  batteryThreshold: number;
}

export interface PowerStatus {
  hidden: boolean;
  battery: { charging: boolean; level: number } | null;
}

export class PowerPolicy {
  private battery: BatteryManager | null = null;
  private listeners: (() => void)[] = [];

  constructor(private opts: PowerPolicyOptions, private readonly onChange: () => void) {
    const vis = () => this.onChange();
    document.addEventListener('visibilitychange', vis);
    this.listeners.push(() => document.removeEventListener('visibilitychange', vis));
    const nav = navigator as Navigator & { getBattery?: () => Promise<BatteryManager> };
    nav.getBattery?.().then((b) => {
      this.battery = b;
      const changed = () => this.onChange();
      b.addEventListener('chargingchange', changed);
      b.addEventListener('levelchange', changed);
      this.listeners.push(() => { b.removeEventListener('chargingchange', changed); b.removeEventListener('levelchange', changed); });
      this.onChange();
    }).catch(() => { /* no Battery API: nothing to watch */ });
  }

  set(opts: PowerPolicyOptions) {
    this.opts = opts;
    this.onChange();
  }

  status(): PowerStatus {
    return {
      hidden: document.visibilityState === 'hidden',
      battery: this.battery ? { charging: this.battery.charging, level: this.battery.level } : null,
    };
  }

  /** Why work should pause now, or null when it may run. */
  pauseReason(): string | null {
    const s = this.status();
    if (this.opts.pauseWhenHidden && s.hidden) return 'the tab is hidden';
    const b = s.battery;
    if (b && !b.charging && this.opts.batteryThreshold > 0 && b.level * 100 < this.opts.batteryThreshold) {
      return `on battery at ${Math.round(b.level * 100)}% (below ${this.opts.batteryThreshold}%)`;
    }
    return null;
  }

  dispose() {
    for (const off of this.listeners) off();
    this.listeners = [];
  }
}
