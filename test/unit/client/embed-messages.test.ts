// The embed's pure pieces: the loader's hand check of frame messages, the frame's valibot check of host
// messages, intensity clamping, stored consent and its expiry, and the coordinator's embed settings.
import { describe, expect, it } from 'vitest';
import { consentPlace } from '../../../client/embed/consent-place.ts';
import { parseHostMessage } from '../../../client/embed/frame/schema.ts';
import {
  clampIntensity, HOUR_MS, makeConsent, parseEmbedConfig, parseFrameMessage, TAG, validConsent, VERSION,
} from '../../../client/embed/messages.ts';

const env = { tag: TAG, v: VERSION };

describe('parseFrameMessage (the loader side)', () => {
  it('accepts each message the frame sends', () => {
    for (const m of [
      { ...env, type: 'ready' },
      { ...env, type: 'state', state: 'running', detail: null },
      { ...env, type: 'state', state: 'paused', detail: 'this tab is hidden' },
      { ...env, type: 'state', state: 'confirm', detail: null },
      { ...env, type: 'state', state: 'declined', detail: 'declined by the visitor' },
      { ...env, type: 'shard', shards: 3, computeMs: 120 },
      { ...env, type: 'credit', amount: 0.0001, total: 0.0004, to: 'site' },
      { ...env, type: 'error', message: 'no backend', fatal: true, field: null },
      { ...env, type: 'error', message: 'bad checksum', fatal: true, field: 'wallet' },
    ]) expect(parseFrameMessage(m)).toEqual(m);
  });

  it('drops anything else: other senders\' shapes, extra fields, wrong types, out-of-range numbers', () => {
    for (const m of [
      null, 'ready', [], { type: 'ready' }, { ...env, v: 2, type: 'ready' }, { tag: 'other', v: 1, type: 'ready' },
      { ...env, type: 'ready', extra: 1 },
      { ...env, type: 'state', state: 'consent', detail: null },
      { ...env, type: 'state', state: 'running' },
      { ...env, type: 'state', state: 'running', detail: 'x'.repeat(301) },
      { ...env, type: 'shard', shards: 1.5, computeMs: 1 },
      { ...env, type: 'shard', shards: 1, computeMs: -1 },
      { ...env, type: 'credit', amount: Number.NaN, total: 1, to: 'site' },
      { ...env, type: 'credit', amount: 1, total: 1, to: '0xabc' },
      // Data that must never reach the host page: an address, a volunteer id.
      { ...env, type: 'credit', amount: 1, total: 1, to: 'site', account: '0x52908400098527886E0F7030069857D2E4169EE7' },
      { ...env, type: 'shard', shards: 1, computeMs: 1, volunteerId: 'abcdef' },
      { ...env, type: 'error', message: 'm', fatal: 'yes', field: null },
      { ...env, type: 'navigate', url: 'https://evil.example' },
    ]) expect(parseFrameMessage(m)).toBeNull();
  });
});

describe('parseHostMessage (the frame side)', () => {
  it('accepts start, stop and pause', () => {
    expect(parseHostMessage({ ...env, type: 'start', intensity: 0.3 })).toEqual({ ...env, type: 'start', intensity: 0.3 });
    expect(parseHostMessage({ ...env, type: 'start', intensity: 1, siteWallet: '0x52908400098527886E0F7030069857D2E4169EE7' })).not.toBeNull();
    expect(parseHostMessage({ ...env, type: 'stop' })).toEqual({ ...env, type: 'stop' });
    expect(parseHostMessage({ ...env, type: 'pause', reason: null })).toEqual({ ...env, type: 'pause', reason: null });
  });

  it('refuses extra keys, malformed wallets and unknown types', () => {
    expect(parseHostMessage({ ...env, type: 'start', intensity: 0.3, projectId: 'other-project' })).toBeNull();
    expect(parseHostMessage({ ...env, type: 'start', intensity: 0.3, visitorWallet: '0x123' })).toBeNull();
    expect(parseHostMessage({ ...env, type: 'start', intensity: Number.POSITIVE_INFINITY })).toBeNull();
    expect(parseHostMessage({ ...env, type: 'eval', code: '1' })).toBeNull();
    expect(parseHostMessage({ type: 'stop' })).toBeNull();
  });
});

describe('clampIntensity', () => {
  it('reads data-intensity, falls back to the project default, then 0.3, and clamps to 0.05..1', () => {
    expect(clampIntensity('0.5')).toBe(0.5);
    expect(clampIntensity(undefined, 0.4)).toBe(0.4);
    expect(clampIntensity('', 0.4)).toBe(0.4);
    expect(clampIntensity('lots')).toBe(0.3);
    expect(clampIntensity('7')).toBe(1);
    expect(clampIntensity('0')).toBe(0.05);
    expect(clampIntensity(undefined, Number.NaN)).toBe(0.3);
  });
});

describe('stored consent', () => {
  const now = 1_800_000_000_000;

  it('holds for consentHours, never beyond 30 days', () => {
    const c = makeConsent(now, 24);
    expect(c.until - c.at).toBe(24 * HOUR_MS);
    expect(validConsent(JSON.stringify(c), now + 23 * HOUR_MS, 24)).toEqual(c);
    expect(validConsent(JSON.stringify(c), now + 24 * HOUR_MS, 24)).toBeNull();
    expect(makeConsent(now, 10_000).until - now).toBe(720 * HOUR_MS);
  });

  it('lapses sooner when the coordinator lowers consentHours, and not later when it raises them', () => {
    const c = JSON.stringify(makeConsent(now, 720));
    expect(validConsent(c, now + 2 * HOUR_MS, 1)).toBeNull();
    expect(validConsent(JSON.stringify(makeConsent(now, 1)), now + 2 * HOUR_MS, 720)).toBeNull();
  });

  it('treats anything malformed as no consent', () => {
    for (const raw of [null, '', 'yes', '{}', '{"v":1,"at":"x","until":1}', JSON.stringify({ ...makeConsent(now, 24), visitorWallet: 'me' })]) {
      expect(validConsent(raw, now, 24)).toBeNull();
    }
    // Consent dated in the future (a tampered or clock-skewed record) is no consent.
    expect(validConsent(JSON.stringify(makeConsent(now + 3_600_000, 24)), now, 24)).toBeNull();
  });
});

describe('parseEmbedConfig', () => {
  const good = { project: { id: 'abcdef123', name: 'Proteins' }, jobs: [{ id: 'j1', kind: 'train' }], defaultIntensity: 0.2, creditTo: 'site', consentHours: 24, frame: '/embed-frame.html' };

  it('reads the coordinator\'s reply', () => {
    expect(parseEmbedConfig(good)).toEqual({ ...good, jobs: [{ id: 'j1', kind: 'train' }] });
  });

  it('keeps the frame on the coordinator and the numbers in range', () => {
    expect(parseEmbedConfig({ ...good, frame: '//evil.example/x.html' })).toBeNull();
    expect(parseEmbedConfig({ ...good, frame: 'https://evil.example/x.html' })).toBeNull();
    expect(parseEmbedConfig({ ...good, creditTo: 'anyone' })).toBeNull();
    expect(parseEmbedConfig({ ...good, consentHours: 100_000 })?.consentHours).toBe(720);
    expect(parseEmbedConfig({ ...good, defaultIntensity: 9 })?.defaultIntensity).toBe(1);
  });
});

describe('consentPlace (where an embed\'s consent must come from)', () => {
  it('asks the visitor inside the frame unless the project vouches for the page\'s origin', () => {
    // The default, no allowed origins: any page may embed, so no page's own card is enough.
    expect(consentPlace([], 'https://evil.example')).toEqual({ at: 'frame' });
    // Rules unknown (the frame could not read them): the safe answer, not the page's.
    expect(consentPlace(null, 'https://news.example')).toEqual({ at: 'frame' });
    expect(consentPlace(['https://news.example', 'https://blog.example'], 'https://news.example')).toEqual({ at: 'page' });
    expect(consentPlace(['https://news.example'], 'https://news.example.evil.example')).toEqual({
      at: 'refused', reason: 'https://news.example.evil.example is not allowed to embed this tabgrid project',
    });
    // Origins compare exactly: another scheme or port is another origin.
    expect(consentPlace(['https://news.example'], 'http://news.example').at).toBe('refused');
    expect(consentPlace(['https://news.example'], 'https://news.example:8443').at).toBe('refused');
  });
});
