/**
 * A contributor tab in a Chromium that no DevTools client instruments.
 *
 * Playwright enables the Network domain on every page it drives, and then
 * Chromium reports every WebSocket frame to it, payload included: each
 * 512 KiB result and assignment is base64-encoded and shipped to the
 * automation client. Measured side by side in one run, that cost the tab
 * ~20 % of its throughput (8.8 shards/s driven by Playwright, 10.3–11.2 with
 * nothing attached, against 12.3 for the raw loop), and no visitor's browser
 * pays it. So the tab side of the bench runs in its own Chromium, spoken to
 * over `--remote-debugging-pipe` with nothing but `Runtime.evaluate` (and,
 * with --profile only, the Performance and Profiler domains).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CHROME, CHROMIUM_FLAGS } from '../../test/e2e/browser.ts';

type Message = { id?: number; method?: string; sessionId?: string; result?: Record<string, unknown>; error?: { message: string } };

export class BareTab {
  private nextId = 1;
  private waiting = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private sessionId = '';
  private buffered = '';

  private constructor(private readonly proc: ChildProcess, private readonly dir: string) {
    const out = proc.stdio[4] as Readable;
    out.setEncoding('utf8');
    out.on('data', (chunk: string) => {
      this.buffered += chunk;
      let end: number;
      while ((end = this.buffered.indexOf('\0')) >= 0) {
        const m = JSON.parse(this.buffered.slice(0, end)) as Message;
        this.buffered = this.buffered.slice(end + 1);
        const w = m.id !== undefined ? this.waiting.get(m.id) : undefined;
        if (!w) continue;
        this.waiting.delete(m.id!);
        if (m.error) w.reject(new Error(m.error.message));
        else w.resolve(m.result ?? {});
      }
    });
    // A Chromium that dies under the bench fails what waits on it, instead of leaving the run hanging.
    proc.once('exit', (code, signal) => {
      for (const w of this.waiting.values()) w.reject(new Error(`bare Chromium exited (code ${code}, signal ${signal})`));
      this.waiting.clear();
    });
  }

  /** Opens `url` in a fresh headless Chromium (its own profile) and attaches to the page. */
  static async open(url: string): Promise<BareTab> {
    const dir = mkdtempSync(join(tmpdir(), 'tabgrid-bare-tab-'));
    const proc = spawn(CHROME, ['--headless', ...CHROMIUM_FLAGS, '--remote-debugging-pipe', `--user-data-dir=${dir}`, url],
      { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'], detached: true });
    const tab = new BareTab(proc, dir);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { targetInfos } = await tab.send('Target.getTargets') as { targetInfos: { targetId: string; type: string; url: string }[] };
      const page = targetInfos.find((t) => t.type === 'page' && t.url.startsWith(new URL(url).origin));
      if (page) {
        tab.sessionId = (await tab.send('Target.attachToTarget', { targetId: page.targetId, flatten: true })).sessionId as string;
        return tab;
      }
      if (Date.now() > deadline) throw new Error(`bare Chromium never opened ${url}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** One DevTools command, to the browser or (once attached) to the page. */
  send(method: string, params: object = {}): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    const msg = JSON.stringify({ id, method, params, ...(this.sessionId ? { sessionId: this.sessionId } : {}) });
    return new Promise((resolve, reject) => {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) { reject(new Error(`bare Chromium is gone (${method})`)); return; }
      this.waiting.set(id, { resolve, reject });
      (this.proc.stdio[3] as Writable).write(`${msg}\0`);
    });
  }

  /** Evaluates an expression in the page (awaiting a promise) and returns its value. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }) as
      { result: { value: T }; exceptionDetails?: { text: string; exception?: { description?: string } } };
    if (r.exceptionDetails) throw new Error(`in the bare tab: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value;
  }

  private closed: Promise<void> | null = null;

  /** Kills the whole browser (its own process group: renderers and utilities too); safe to call twice. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      for (const w of this.waiting.values()) w.reject(new Error('bare tab closed'));
      this.waiting.clear();
      if (this.proc.exitCode === null && this.proc.signalCode === null) {
        const exited = new Promise((r) => this.proc.once('exit', r));
        try { process.kill(-this.proc.pid!, 'SIGKILL'); } catch { this.proc.kill('SIGKILL'); }
        await exited;
      }
      rmSync(this.dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    })();
    return this.closed;
  }
}
