/**
 * Entry of the dashboards page: `#/swarm` (anyone), `#/project` (a project's
 * owners, with its API token), `#/wallet/0x…` (a contributor's credit). Like
 * the contributor app, `?coordinator=URL` points a statically hosted build at
 * a coordinator; by default it is the page's own origin.
 */
import { mount } from 'svelte';
import 'uplot/dist/uPlot.min.css';
import '../app/app.css';
import './dashboard.css';
import { readParams } from '../lib/params.ts';
import Dashboard from './Dashboard.svelte';
import { Live } from './live.svelte.ts';

const { coordinator } = readParams();
mount(Dashboard, { target: document.getElementById('app')!, props: { coordinator, live: new Live(coordinator) } });
