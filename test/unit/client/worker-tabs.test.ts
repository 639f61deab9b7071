// `tabgrid worker --tabs`: the URL each headless tab opens, its Chromium flags, and the messages when things are missing.
import { describe, expect, it } from 'vitest';
import { chromiumArgs, contributorUrl, findChromium, runTabWorkers } from '../../../cli/commands/worker-tabs.ts';

describe('worker --tabs', () => {
  it('opens the contributor page with autostart and never pauses when hidden', () => {
    const u = new URL(contributorUrl({ server: 'http://127.0.0.1:8080', backend: 'wasm', wallet: '0x52908400098527886E0F7030069857D2E4169EE7' }));
    expect(u.origin + u.pathname).toBe('http://127.0.0.1:8080/');
    expect(Object.fromEntries(u.searchParams)).toEqual({
      autostart: '1', hidden: 'run', backend: 'wasm', wallet: '0x52908400098527886E0F7030069857D2E4169EE7', intensity: '1',
    });
    expect(new URL(contributorUrl({ server: 'https://grid.example/tg' })).pathname).toBe('/tg/');
  });

  it('enables WebGPU unless WASM is asked for, and treats a LAN http coordinator as secure', () => {
    expect(chromiumArgs({ server: 'http://127.0.0.1:8080', backend: 'webgpu' })).toContain('--enable-unsafe-webgpu');
    expect(chromiumArgs({ server: 'http://127.0.0.1:8080', backend: 'wasm' })).not.toContain('--enable-unsafe-webgpu');
    expect(chromiumArgs({ server: 'http://192.168.1.5:8080' })).toContain('--unsafely-treat-insecure-origin-as-secure=http://192.168.1.5:8080');
    expect(chromiumArgs({ server: 'https://grid.example' }).some((a) => a.startsWith('--unsafely'))).toBe(false);
  });

  it('says how to install Chromium when none is found', () => {
    expect(() => findChromium({ CHROME_PATH: '/nope/chrome' })).toThrow(/CHROME_PATH points at \/nope\/chrome/);
  });

  it('refuses a bad wallet or tab count before launching anything', async () => {
    await expect(runTabWorkers({ tabs: 1, server: 'http://127.0.0.1:9', wallet: '0x123' })).rejects.toThrow(/--wallet: a wallet is 0x followed by 40 hex digits/);
    await expect(runTabWorkers({ tabs: 0, server: 'http://127.0.0.1:9' })).rejects.toThrow(/--tabs/);
    await expect(runTabWorkers({ tabs: 1, server: 'ftp://x' })).rejects.toThrow(/--server/);
  });
});
