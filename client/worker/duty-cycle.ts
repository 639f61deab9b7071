/**
 * Intensity as a duty cycle inside a shard: after every `session.run` the
 * worker rests in proportion (shared `restAfter`), so a shard split into run
 * units alternates short compute and rest slices instead of saturating the
 * device for the whole shard and then idling (the fan noise volunteers quit over).
 */
import type * as Ort from 'onnxruntime-web';
import type { OrtModule } from '../../shared/worker-core/ort-tensors.ts';
import { restAfter } from '../../shared/volunteer/throttle.ts';

export class DutyCycle {
  intensity = 1;
  /** Milliseconds spent resting since the last `take()`, so reported compute time excludes them. */
  private rested = 0;
  busyMs = 0;

  takeRested(): number {
    const r = this.rested;
    this.rested = 0;
    return r;
  }

  async after(computeMs: number): Promise<void> {
    this.busyMs += computeMs;
    if (this.intensity >= 1) return;
    const ms = restAfter(computeMs, this.intensity);
    if (ms <= 0) return;
    this.rested += ms;
    await new Promise((r) => setTimeout(r, ms));
  }

  /** An ort module whose sessions rest after every run according to this duty cycle. */
  wrap(ort: OrtModule): OrtModule {
    const create = (async (...args: Parameters<typeof ort.InferenceSession.create>) => {
      const session = await (ort.InferenceSession.create as (...a: unknown[]) => Promise<Ort.InferenceSession>)(...args);
      const run = session.run.bind(session) as (...a: unknown[]) => Promise<Ort.InferenceSession.ReturnType>;
      return new Proxy(session, {
        get: (target, prop, receiver) => {
          if (prop !== 'run') {
            const v = Reflect.get(target, prop, receiver) as unknown;
            // Bound to the real session: its methods may touch state a proxy cannot reach.
            return typeof v === 'function' ? v.bind(target) : v;
          }
          return async (...a: unknown[]) => {
            const t0 = performance.now();
            const out = await run(...a);
            await this.after(performance.now() - t0);
            return out;
          };
        },
      });
    }) as typeof ort.InferenceSession.create;
    return { ...ort, InferenceSession: { ...ort.InferenceSession, create } } as OrtModule;
  }
}
