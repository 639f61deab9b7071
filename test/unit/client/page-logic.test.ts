// Pure pieces of the contributor page: URL parameters, throughput sampling, the duty cycle, number formatting.
import { describe, expect, it } from 'vitest';
import { formatCredits } from '../../../client/lib/format.ts';
import { readParams } from '../../../client/lib/params.ts';
import { ThroughputSeries } from '../../../client/lib/throughput.ts';
import { transferablesOf } from '../../../client/lib/transfer.ts';
import { DutyCycle } from '../../../client/worker/duty-cycle.ts';

const at = (href: string) => new URL(href) as unknown as Location;

describe('readParams', () => {
  it('defaults to the page origin, auto backend, no autostart', () => {
    const p = readParams(at('http://127.0.0.1:8080/'));
    expect(p).toEqual({ coordinator: 'http://127.0.0.1:8080', autostart: false, backend: 'auto', intensity: null, wallet: null, runWhenHidden: null, join: [] });
  });

  it('reads invite codes (?join=, repeatable) for private projects\' groups', () => {
    expect(readParams(at('http://h:1/?join=tgi_a&join=tgi_b')).join).toEqual(['tgi_a', 'tgi_b']);
  });

  it('reads the headless-tab parameters and clamps intensity', () => {
    const p = readParams(at('http://h:1/?autostart=1&backend=wasm&intensity=7&wallet=0xabc&hidden=run'));
    expect(p).toMatchObject({ autostart: true, backend: 'wasm', intensity: 1, wallet: '0xabc', runWhenHidden: true });
    expect(readParams(at('http://h:1/?intensity=0')).intensity).toBe(0.05);
    expect(readParams(at('http://h:1/?backend=webgl')).backend).toBe('auto');
  });

  it('points a static build at another coordinator, keeping a path prefix', () => {
    expect(readParams(at('https://cdn.example/app/?coordinator=https://grid.example/tg/')).coordinator).toBe('https://grid.example/tg');
    expect(readParams(at('https://cdn.example/?coordinator=javascript:alert(1)')).coordinator).toBe('https://cdn.example');
  });
});

describe('ThroughputSeries', () => {
  it('reports shards per minute and busy share over the window', () => {
    const s = new ThroughputSeries();
    const t0 = 1_000_000;
    for (let i = 0; i < 6; i++) s.record(500, t0 + i * 5000);
    s.sample(t0 + 30_000, t0);
    expect(s.shardsPerMin.at(-1)).toBeCloseTo(12);
    expect(s.busyPct.at(-1)).toBeCloseTo(10);
    s.sample(t0 + 200_000, t0);
    expect(s.shardsPerMin.at(-1)).toBe(0);
  });

  it('keeps a bounded number of points', () => {
    const s = new ThroughputSeries(3);
    for (let i = 0; i < 10; i++) s.sample(1e6 + i * 1000);
    expect(s.data()[0]).toHaveLength(3);
  });
});

describe('DutyCycle', () => {
  it('rests in proportion to the compute slice and accounts for it', async () => {
    const d = new DutyCycle();
    d.intensity = 0.5;
    const t0 = performance.now();
    await d.after(40);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(35);
    expect(d.takeRested()).toBe(40);
    expect(d.takeRested()).toBe(0);
    d.intensity = 1;
    await d.after(40);
    expect(d.takeRested()).toBe(0);
  });

  it('wraps sessions so every run is followed by its rest', async () => {
    const d = new DutyCycle();
    d.intensity = 0.25;
    const session = { run: async () => { const end = performance.now() + 10; while (performance.now() < end); return { ok: 1 }; }, release: async () => {} };
    const fakeOrt = { InferenceSession: { create: async () => session } } as never;
    const wrapped = d.wrap(fakeOrt) as unknown as { InferenceSession: { create(): Promise<typeof session> } };
    const s = await wrapped.InferenceSession.create();
    expect(await s.run()).toEqual({ ok: 1 });
    expect(d.takeRested()).toBeGreaterThanOrEqual(29);
    await s.release();
  });
});

describe('helpers', () => {
  it('lists each transferable buffer once', () => {
    const buf = new ArrayBuffer(8);
    const list = transferablesOf([{ data: new Uint8Array(buf, 0, 4) }, { data: new Uint8Array(buf, 4, 4) }, { data: new Uint8Array(2) }]);
    expect(list).toHaveLength(2);
  });

  it('formats tiny and large credits readably', () => {
    expect(formatCredits(0)).toBe('0');
    expect(formatCredits(0.0000123)).toBe('1.23e-5');
    expect(formatCredits(0.01234)).toMatch(/0\.0123/);
    expect(formatCredits(1234.567)).toMatch(/1,?234\.57/);
  });
});
