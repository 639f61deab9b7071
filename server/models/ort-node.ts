/**
 * onnxruntime-web's WASM backend inside the coordinator process: used to check
 * that a submitted model really loads, and by `tabgrid worker --node`.
 */
import * as ort from 'onnxruntime-web';

ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';

export { ort };
