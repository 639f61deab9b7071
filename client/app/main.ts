/** Entry of the contributor page. */
import { mount } from 'svelte';
import 'uplot/dist/uPlot.min.css';
import './app.css';
import { readParams } from '../lib/params.ts';
import App from './App.svelte';
import { Contributor } from './contributor.svelte.ts';
import { installTestHook } from './test-hook.ts';

const contributor = new Contributor(readParams());
installTestHook(contributor);
mount(App, { target: document.getElementById('app')!, props: { c: contributor } });
void contributor.init();
