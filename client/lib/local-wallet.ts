/**
 * A payout wallet created in the browser for volunteers without one. The key
 * stays in this profile's IndexedDB (never sent anywhere); the page tells the
 * volunteer plainly to export and back it up, since clearing site data loses it.
 */
import { addressFromPrivateKey, createWallet } from '../../shared/wallet.ts';
import { kvDelete, kvGet, kvSet } from './db.ts';

export interface LocalWallet {
  address: string;
  privateKey: string;
  createdAt: number;
  /** Set once the volunteer has revealed or downloaded the key. */
  exportedAt: number | null;
}

const KEY = 'wallet:local';

export async function loadLocalWallet(): Promise<LocalWallet | null> {
  const w = await kvGet<LocalWallet>(KEY);
  if (!w) return null;
  try {
    // Re-derive: a damaged record must not silently pay a different address.
    return addressFromPrivateKey(w.privateKey) === w.address ? w : null;
  } catch {
    return null;
  }
}

export async function createLocalWallet(): Promise<LocalWallet> {
  const { privateKey, address } = createWallet();
  const w: LocalWallet = { address, privateKey, createdAt: Date.now(), exportedAt: null };
  await kvSet(KEY, w);
  return w;
}

export async function markExported(w: LocalWallet): Promise<LocalWallet> {
  const next = { ...w, exportedAt: Date.now() };
  await kvSet(KEY, next);
  return next;
}

export async function forgetLocalWallet(): Promise<void> {
  await kvDelete(KEY);
}

/** A small JSON file with the key, for the volunteer to store safely. */
export function walletExportBlob(w: LocalWallet): Blob {
  const body = {
    note: 'tabgrid payout wallet. Anyone holding this private key controls the wallet: keep it secret and backed up.',
    address: w.address,
    privateKey: w.privateKey,
    createdAt: new Date(w.createdAt).toISOString(),
  };
  return new Blob([JSON.stringify(body, null, 2)], { type: 'application/json' });
}
