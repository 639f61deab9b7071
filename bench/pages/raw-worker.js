/**
 * The browser benchmark's raw side: a dedicated module worker (as the
 * contributor app's compute worker is) running onnxruntime-web straight from
 * the contributor build's own assets, in a loop of `session.run` over the same
 * model and shard inputs the tab computes. Nothing else: no socket, no
 * IndexedDB, no tensor (de)serialisation beyond what onnxruntime itself does.
 *
 * Plain JavaScript because the browser loads it as is (no build step for the
 * bench). Messages: {id, cmd: 'init', ...} once, then {id, cmd: 'run', ...}
 * per measured window; every reply is {id, ok, ...}.
 */

/** @type {any} */
let ort = null;
/** @type {any} */
let session = null;
/** @type {Float32Array} */
let x = new Float32Array(0);
let shape = [0, 0];
let shards = 0;
let next = 0;
let inputName = 'x';
let outputName = 'y';
let sink = 0;

/** One shard's input as an onnxruntime tensor; shards are taken in turn, as the tab receives them. */
function feed() {
  const per = shape[0] * shape[1];
  const k = next++ % shards;
  return { [inputName]: new ort.Tensor('float32', x.subarray(k * per, (k + 1) * per), shape) };
}

async function runOnce() {
  const t = performance.now();
  const out = await session.run(feed());
  // Read the output as a consumer would: on WASM it is already in JS memory.
  sink += out[outputName].data.length;
  for (const v of Object.values(out)) v.dispose();
  return performance.now() - t;
}

async function init(o) {
  const t0 = performance.now();
  const mod = await import(o.ortUrl);
  ort = mod.default ?? mod;
  ort.env.wasm.wasmPaths = { wasm: o.wasmUrl };
  ort.env.wasm.numThreads = o.threads;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  const [model, input] = await Promise.all([o.modelUrl, o.inputUrl].map(async (u) => new Uint8Array(await (await fetch(u)).arrayBuffer())));
  // The same session options as the contributor app's ShardExecutor.
  session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  inputName = session.inputNames[0];
  outputName = session.outputNames[0];
  x = new Float32Array(input.buffer, input.byteOffset, input.byteLength / 4);
  shape = [o.records, o.width];
  shards = Math.floor(x.length / (o.records * o.width));
  return {
    initMs: performance.now() - t0,
    isolated: self.crossOriginIsolated === true,
    // onnxruntime falls back to one thread without cross-origin isolation; this is what it settled on.
    threads: ort.env.wasm.numThreads,
    hardwareConcurrency: navigator.hardwareConcurrency,
    ortVersion: ort.env.versions?.web ?? 'unknown',
  };
}

/** Warm-up by time, not count: V8 tiers hot wasm functions up in the background for a while after the start. */
async function run(o) {
  const w0 = performance.now();
  while (performance.now() - w0 < o.warmupMs) await runOnce();
  const times = [];
  const start = performance.now();
  while (performance.now() - start < o.durationMs) times.push(await runOnce());
  return { runs: times.length, ms: performance.now() - start, times, sink };
}

self.onmessage = async (e) => {
  const { id, cmd, ...o } = e.data;
  try {
    const value = cmd === 'init' ? await init(o) : cmd === 'run' ? await run(o) : (() => { throw new Error(`unknown command ${cmd}`); })();
    self.postMessage({ id, ok: true, ...value });
  } catch (err) {
    self.postMessage({ id, ok: false, error: String(err?.stack ?? err) });
  }
};
