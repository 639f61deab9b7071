/**
 * The consent card's and indicator's styles, adopted by the loader's shadow
 * root. `:host { all: initial }` (with !important, which wins over the host
 * page's rules for the host element) resets the element itself, and `.root`
 * sets every inherited property (font, colour) again, so nothing the page
 * sets leaks in; the shadow root keeps these rules from leaking out. Only the
 * positioning sits on :host: its !important would override anything after it.
 */
export const CSS = `
:host{all:initial!important;position:fixed!important;z-index:2147483646!important;right:16px!important;bottom:16px!important;display:block!important}
.root{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);text-align:left;
--bg:#fff;--fg:#1f2328;--mu:#59636e;--bd:#d1d9e0;--ac:#1f6feb;--ok:#1a7f37;--wa:#9a6700;--bad:#cf222e;--chip:#eff2f5}
@media (prefers-color-scheme:dark){.root{--bg:#151b23;--fg:#e6edf3;--mu:#9198a1;--bd:#3d444d;--ac:#4493f8;--ok:#3fb950;--wa:#d29922;--bad:#f85149;--chip:#262c36}}
*{box-sizing:border-box;font:inherit;color:inherit}
.frame{position:absolute;width:0;height:0;border:0;visibility:hidden}
.frame.ask{position:static;display:block;visibility:visible;width:min(25rem,calc(100vw - 32px));height:14.5rem;border:1px solid var(--bd);border-radius:12px;background:var(--bg);box-shadow:0 8px 28px rgba(0,0,0,.18)}
.card,.badge{background:var(--bg);color:var(--fg);border:1px solid var(--bd);border-radius:12px;box-shadow:0 8px 28px rgba(0,0,0,.18)}
.card{width:min(25rem,calc(100vw - 32px));padding:14px 16px;max-height:calc(100vh - 32px);overflow:auto}
.head{display:flex;gap:10px;align-items:center;margin-bottom:6px}
.logo{width:28px;height:28px;flex:none}
h2{margin:0;font-size:15.5px;font-weight:650;line-height:1.3}
p{margin:6px 0}
ul{margin:8px 0;padding-left:18px}
li{margin:4px 0}
strong{font-weight:650}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;background:var(--chip);padding:0 4px;border-radius:4px}
label{display:block}
input{display:block;width:100%;margin:4px 0 2px;padding:6px 8px;border:1px solid var(--bd);border-radius:8px;background:var(--bg);
font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
input[aria-invalid=true]{border-color:var(--bad)}
.hint{display:block;color:var(--mu);font-size:12.5px}
.err{margin:2px 0 0;color:var(--bad);font-size:12.5px}
.err:empty{display:none}
.actions{display:flex;gap:8px;justify-content:flex-end;margin-top:12px}
.btn{cursor:pointer;border-radius:8px;border:1px solid var(--bd);background:var(--chip);padding:6px 14px;font-weight:550}
.btn.primary{background:var(--ac);border-color:var(--ac);color:#fff}
.btn:hover{filter:brightness(.96)}
.btn:focus-visible,input:focus-visible{outline:2px solid var(--ac);outline-offset:2px}
.badge{display:flex;align-items:center;gap:10px;padding:8px 10px 8px 12px;max-width:min(26rem,calc(100vw - 32px))}
.dot{width:10px;height:10px;border-radius:50%;background:var(--mu);flex:none}
.running .dot{background:var(--ok);box-shadow:0 0 0 3px color-mix(in srgb,var(--ok) 25%,transparent)}
.paused .dot{background:var(--wa)}
.error .dot{background:var(--bad)}
.txt{min-width:0}
.line{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.sub{color:var(--mu);font-size:12.5px}
.btn.stop{padding:4px 12px;margin-left:auto}
.btn[hidden]{display:none}
@media (max-width:480px){:host{right:8px!important;bottom:8px!important;left:8px!important}.card,.badge{width:100%;max-width:none}}
`;
