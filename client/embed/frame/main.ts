/**
 * Entry of `embed-frame.html`, the hidden frame the loader opens after the
 * visitor's Accept. It talks only to the page that embeds it, on that page's
 * origin: `location.ancestorOrigins` where the browser has it, otherwise the
 * origin of the first valid message, fixed from then on. The coordinator
 * serves this page with `frame-ancestors` set to the project's allowed origins,
 * and checks the origin again at hello. On a page the project does not list,
 * the visitor confirms inside this frame before anything starts (confirm.ts).
 */
import { PROJECT_ID, TAG, VERSION } from '../messages.ts';
import { askVisitor, rememberedConfirmation } from './confirm.ts';
import { EmbedRuntime, type EmbedRuntimeOptions } from './runtime.ts';
import { parseHostMessage } from './schema.ts';

const projectId = new URLSearchParams(location.search).get('project') ?? '';
const ancestor = location.ancestorOrigins?.[0] ?? null;
let hostOrigin: string | null = ancestor && ancestor !== 'null' ? ancestor : null;

if (window.parent === window || !PROJECT_ID.test(projectId)) {
  // Opened on its own: nothing to do here; say where the contributor app is.
  const p = document.createElement('p');
  p.append('This page computes for tabgrid inside other sites, after their visitors agree. To contribute directly, open ');
  const a = document.createElement('a');
  a.href = './';
  a.textContent = 'the contributor app';
  p.append(a, '.');
  document.body.append(p);
} else {
  const post: EmbedRuntimeOptions['post'] = (m) => {
    // Before the host is known (no ancestorOrigins), only `ready`, which carries nothing, goes out unaddressed.
    const target = hostOrigin ?? (m.type === 'ready' ? '*' : null);
    if (target) window.parent.postMessage({ tag: TAG, v: VERSION, ...m }, target);
  };
  let runtime: EmbedRuntime | null = null;

  addEventListener('message', (e) => {
    if (e.source !== window.parent) return;
    if (hostOrigin ? e.origin !== hostOrigin : e.origin === 'null') return;
    const m = parseHostMessage(e.data);
    if (!m) return;
    hostOrigin ??= e.origin;
    if (m.type === 'start') {
      // The coordinator is where this page came from, path prefix included.
      runtime ??= new EmbedRuntime({
        coordinator: new URL('.', location.href).href.replace(/\/$/, ''), projectId, hostOrigin, post,
        confirm: async (i) => (rememberedConfirmation(i) ? 'allowed' : askVisitor(i)),
      });
      void runtime.start(m);
    } else if (m.type === 'stop') {
      void (runtime ? runtime.stop() : Promise.resolve()).then(() => { if (!runtime) post({ type: 'state', state: 'stopped', detail: null }); });
    } else {
      runtime?.setHostPause(m.reason);
    }
  });
  post({ type: 'ready' });
}
