/**
 * One contributing tab per browser profile: several tabs computing at once
 * only fight over the same GPU and cores. A Web Lock is held while a tab
 * contributes and released when it stops or closes (the browser frees it even
 * on a crash). Without the Web Locks API every tab may contribute.
 */

const LOCK = 'tabgrid:contributor';

export interface HeldLock {
  release(): void;
}

/** Takes the lock if no other tab holds it; null when another tab is contributing. */
export function tryAcquireContributorLock(): Promise<HeldLock | null> {
  if (!navigator.locks) return Promise.resolve({ release() {} });
  return new Promise((resolve, reject) => {
    navigator.locks.request(LOCK, { ifAvailable: true }, (lock) => {
      if (!lock) { resolve(null); return undefined; }
      // Held until release() settles this promise.
      return new Promise<void>((release) => resolve({ release: () => release() }));
    }).catch(reject);
  });
}

/** True when another tab of this profile holds the lock right now. */
export async function anotherTabContributes(): Promise<boolean> {
  if (!navigator.locks?.query) return false;
  const { held } = await navigator.locks.query();
  return (held ?? []).some((l) => l.name === LOCK);
}
