/**
 * URL parameters of the contributor page. `coordinator` points a statically
 * hosted build at a coordinator; the rest drive headless tabs
 * (`tabgrid worker --tabs`) and e2e tests:
 * `?autostart=1&backend=wasm|webgpu&intensity=0.5&wallet=0x…&hidden=run`.
 * `?join=CODE` (repeatable) joins private projects' groups (an invite link).
 */
import type { BackendChoice } from '../worker/compute-api.ts';

export interface PageParams {
  coordinator: string;
  autostart: boolean;
  backend: BackendChoice;
  intensity: number | null;
  wallet: string | null;
  /** `hidden=run` keeps computing while the tab is hidden (headless tabs have no one to look at them). */
  runWhenHidden: boolean | null;
  /** Invite codes of private projects' groups to join once contributing (issue 15). */
  join: string[];
}

export function readParams(loc: Location = location): PageParams {
  const q = new URLSearchParams(loc.search);
  const backend = q.get('backend');
  const intensity = q.get('intensity') === null ? NaN : Number(q.get('intensity'));
  return {
    coordinator: coordinatorUrl(q.get('coordinator'), loc),
    autostart: q.get('autostart') === '1' || q.get('autostart') === 'true',
    backend: backend === 'wasm' || backend === 'webgpu' ? backend : 'auto',
    intensity: Number.isFinite(intensity) ? Math.min(1, Math.max(0.05, intensity)) : null,
    wallet: q.get('wallet'),
    runWhenHidden: q.get('hidden') === 'run' ? true : q.get('hidden') === 'pause' ? false : null,
    join: q.getAll('join'),
  };
}

/** The coordinator's origin (plus path prefix, if any) without a trailing slash; the page's own origin by default. */
function coordinatorUrl(param: string | null, loc: Location): string {
  if (param) {
    try {
      const u = new URL(param, loc.href);
      if (u.protocol === 'http:' || u.protocol === 'https:') return (u.origin + u.pathname).replace(/\/+$/, '');
    } catch { /* fall through to the page's origin */ }
  }
  return loc.origin;
}
