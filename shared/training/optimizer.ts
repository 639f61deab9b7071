/**
 * SGD (with momentum, optional Nesterov and L2 weight decay) and Adam (with
 * optional decoupled weight decay, i.e. AdamW) over named Float32Array
 * parameters. Steps are pure: they return new parameter and state objects and
 * never mutate their inputs. Arithmetic is done in float64 and stored as
 * float32, so results are deterministic across JS engines; the state
 * round-trips exactly through plain JSON-safe objects (float32 values are
 * exact doubles).
 */

export interface SgdConfig {
  kind: 'sgd';
  lr: number;
  /** Momentum coefficient mu (PyTorch convention: v = mu*v + g; p -= lr*v). Default 0. */
  momentum?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay?: number;
}

export interface AdamConfig {
  kind: 'adam';
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (AdamW): p -= lr*wd*p before the Adam update. Default 0. */
  weightDecay?: number;
}

export type OptimizerConfig = SgdConfig | AdamConfig;

export type Params = Record<string, Float32Array>;

export interface OptimizerState {
  config: OptimizerConfig;
  /** Number of steps taken. */
  step: number;
  /** Per parameter: SGD momentum buffer `v`; Adam moments `m`, `v`. */
  slots: Record<string, Record<string, Float32Array>>;
}

/** JSON-safe form of OptimizerState for checkpoints. */
export interface PlainOptimizerState {
  config: OptimizerConfig;
  step: number;
  slots: Record<string, Record<string, number[]>>;
}

function validateConfig(c: OptimizerConfig): void {
  const finite = (v: number | undefined, name: string, lo = 0) => {
    if (v !== undefined && !(Number.isFinite(v) && v >= lo)) throw new Error(`optimizer ${name} must be a finite number >= ${lo}, got ${v}`);
  };
  if (c.kind !== 'sgd' && c.kind !== 'adam') throw new Error(`unknown optimizer ${JSON.stringify((c as { kind: unknown }).kind)}`);
  finite(c.lr, 'lr');
  finite(c.weightDecay, 'weightDecay');
  if (c.kind === 'sgd') finite(c.momentum, 'momentum');
  else {
    for (const k of ['beta1', 'beta2'] as const) {
      const v = c[k];
      if (v !== undefined && !(v >= 0 && v < 1)) throw new Error(`optimizer ${k} must be in [0, 1), got ${v}`);
    }
    finite(c.eps, 'eps');
  }
}

export function initOptimizerState(config: OptimizerConfig, params: Params): OptimizerState {
  validateConfig(config);
  const slots: OptimizerState['slots'] = {};
  for (const [name, p] of Object.entries(params)) {
    slots[name] = config.kind === 'adam'
      ? { m: new Float32Array(p.length), v: new Float32Array(p.length) }
      : (config.momentum ?? 0) > 0 ? { v: new Float32Array(p.length) } : {};
  }
  return { config: { ...config }, step: 0, slots };
}

/**
 * One step. `lr` overrides the configured lr for this step only (a schedule's
 * value; AdamW's decoupled decay scales with it, as in PyTorch).
 */
export function optimizerStep(state: OptimizerState, params: Params, grads: Params, lr = state.config.lr): { params: Params; state: OptimizerState } {
  if (!(Number.isFinite(lr) && lr >= 0)) throw new Error(`optimizer lr must be a finite number >= 0, got ${lr}`);
  const names = Object.keys(state.slots);
  for (const name of Object.keys(params)) if (!(name in state.slots)) throw new Error(`parameter ${name} has no optimizer state`);
  const step = state.step + 1;
  const outParams: Params = {};
  const outSlots: OptimizerState['slots'] = {};
  for (const name of names) {
    const p = params[name];
    const g = grads[name];
    if (!p) throw new Error(`missing parameter ${name}`);
    if (!g) throw new Error(`missing gradient for ${name}`);
    if (g.length !== p.length) throw new Error(`gradient for ${name} has ${g.length} values, parameter has ${p.length}`);
    const c = { ...state.config, lr };
    if (c.kind === 'sgd') {
      const r = sgdUpdate(c, p, g, state.slots[name]!.v);
      outParams[name] = r.p;
      outSlots[name] = r.v ? { v: r.v } : {};
    } else {
      const r = adamUpdate(c, step, p, g, state.slots[name]!.m!, state.slots[name]!.v!);
      outParams[name] = r.p;
      outSlots[name] = { m: r.m, v: r.v };
    }
  }
  return { params: outParams, state: { config: { ...state.config }, step, slots: outSlots } };
}

function sgdUpdate(c: SgdConfig, p: Float32Array, g: Float32Array, v0: Float32Array | undefined) {
  const mu = c.momentum ?? 0;
  const wd = c.weightDecay ?? 0;
  const out = new Float32Array(p.length);
  const v = mu > 0 ? new Float32Array(p.length) : undefined;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]! + wd * p[i]!;
    let d = gi;
    if (v) {
      // momentum buffer kept in float32, as a checkpoint will store it
      v[i] = mu * (v0?.[i] ?? 0) + gi;
      d = c.nesterov ? gi + mu * v[i]! : v[i]!;
    }
    out[i] = p[i]! - c.lr * d;
  }
  return { p: out, v };
}

function adamUpdate(c: AdamConfig, t: number, p: Float32Array, g: Float32Array, m0: Float32Array, v0: Float32Array) {
  const b1 = c.beta1 ?? 0.9;
  const b2 = c.beta2 ?? 0.999;
  const eps = c.eps ?? 1e-8;
  const wd = c.weightDecay ?? 0;
  const c1 = 1 - b1 ** t;
  const c2 = 1 - b2 ** t;
  const out = new Float32Array(p.length);
  const m = new Float32Array(p.length);
  const v = new Float32Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]!;
    m[i] = b1 * m0[i]! + (1 - b1) * gi;
    v[i] = b2 * v0[i]! + (1 - b2) * gi * gi;
    const decayed = p[i]! - c.lr * wd * p[i]!;
    out[i] = decayed - (c.lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + eps);
  }
  return { p: out, m, v };
}

export function optimizerStateToPlain(s: OptimizerState): PlainOptimizerState {
  const slots: PlainOptimizerState['slots'] = {};
  for (const [name, bufs] of Object.entries(s.slots)) {
    slots[name] = Object.fromEntries(Object.entries(bufs).map(([k, v]) => [k, Array.from(v)]));
  }
  return { config: { ...s.config }, step: s.step, slots };
}

export function optimizerStateFromPlain(plain: PlainOptimizerState): OptimizerState {
  if (!plain || typeof plain !== 'object') throw new Error('optimizer state must be an object');
  validateConfig(plain.config);
  if (!Number.isSafeInteger(plain.step) || plain.step < 0) throw new Error(`optimizer step must be a non-negative integer, got ${plain.step}`);
  const want = plain.config.kind === 'adam' ? ['m', 'v'] : (plain.config.momentum ?? 0) > 0 ? ['v'] : [];
  const slots: OptimizerState['slots'] = {};
  for (const [name, bufs] of Object.entries(plain.slots ?? {})) {
    const keys = Object.keys(bufs).sort();
    if (keys.join(',') !== [...want].sort().join(',')) throw new Error(`optimizer slots for ${name} are [${keys}], expected [${want}]`);
    const lens = new Set(Object.values(bufs).map((v) => v.length));
    if (lens.size > 1) throw new Error(`optimizer slots for ${name} differ in length`);
    slots[name] = Object.fromEntries(Object.entries(bufs).map(([k, v]) => {
      if (!Array.isArray(v) || !v.every(Number.isFinite)) throw new Error(`optimizer slot ${name}.${k} must be finite numbers`);
      return [k, Float32Array.from(v)];
    }));
  }
  return { config: { ...plain.config }, step: plain.step, slots };
}
