#!/usr/bin/env node
/*
 * Drives the `ambitctl dashboard` web UI in headless Chromium and prints what its graph shows.
 *
 *   node dashboard_probe.js URL [--wait-edge SRC_ID,DST_ID,PROTOCOL[,health=H][,mtls]]...
 *                               [--click ID] [--screenshot FILE] [--timeout SECONDS]
 *
 * URL is the dashboard's origin (the probe opens #/graph?duration=300&refresh=5 there) or a full
 * #/graph URL, used as given. Each --wait-edge is polled, across the page's own refreshes, until
 * an edge from SRC_ID to DST_ID with that protocol exists (and has that health, and mtls > 0).
 * --click taps a node or edge by id and waits for the side panel's data. One deadline covers it all.
 *
 * Prints {"nodes", "edges", "panel", "consoleErrors"} on stdout, also when a wait failed (then as a
 * record of what was seen): nodes and edges are the cytoscape data (the API's fields plus `color`)
 * with the label drawn added as `label` (e.g. "🔒 60% 5.0 KiB/s"); panel is the side panel's text
 * after --click, else null. Exit 0: every wait met; 1: not met by the deadline, or
 * the browser or page failed, with the reason on stderr.
 *
 * Environment: CHROMIUM (default /usr/bin/chromium).
 */
'use strict';

const fs = require('fs');
const path = require('path');

const POLL_MS = 250;

function usage(msg) {
	if (msg)
		process.stderr.write('dashboard_probe: ' + msg + '\n');
	process.stderr.write('usage: dashboard_probe.js URL [--wait-edge SRC,DST,PROTO[,health=H][,mtls]]... ' +
		'[--click ID] [--screenshot FILE] [--timeout SECONDS]\n');
	process.exit(msg ? 1 : 0);
}

function parseEdge(spec) {
	const parts = spec.split(',');
	if (parts.length < 3 || !parts[0] || !parts[1] || !parts[2])
		usage('--wait-edge wants SRC_ID,DST_ID,PROTOCOL[,health=H][,mtls], got ' + JSON.stringify(spec));
	const want = { source: parts[0], target: parts[1], protocol: parts[2], health: null, mtls: false, spec };
	for (const p of parts.slice(3)) {
		if (p === 'mtls')
			want.mtls = true;
		else if (p.startsWith('health='))
			want.health = p.slice('health='.length);
		else
			usage('unknown --wait-edge option ' + JSON.stringify(p));
	}
	return want;
}

function parseArgs(argv) {
	const opt = { url: null, waits: [], click: null, screenshot: null, timeout: 60 };
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		const val = () => {
			if (i + 1 >= argv.length)
				usage(a + ' needs a value');
			return argv[++i];
		};
		if (a === '--wait-edge')
			opt.waits.push(parseEdge(val()));
		else if (a === '--click')
			opt.click = val();
		else if (a === '--screenshot')
			opt.screenshot = val();
		else if (a === '--timeout') {
			opt.timeout = Number(val());
			if (!(opt.timeout > 0))
				usage('--timeout wants a positive number of seconds');
		} else if (a === '-h' || a === '--help')
			usage();
		else if (a.startsWith('--'))
			usage('unknown option ' + a);
		else if (opt.url === null)
			opt.url = a;
		else
			usage('more than one URL');
	}
	if (!opt.url)
		usage('no URL');
	if (!opt.url.includes('#'))
		opt.url = opt.url.replace(/\/?$/, '/') + '#/graph?duration=300&refresh=5';
	return opt;
}

function edgeMatches(e, w) {
	return e.source === w.source && e.target === w.target && e.protocol === w.protocol &&
		(w.health === null || e.health === w.health) &&
		(!w.mtls || (typeof e.mtls === 'number' && e.mtls > 0));
}

function describeEdge(e) {
	return `${e.source} -> ${e.target} ${e.protocol} health=${e.health} mtls=${e.mtls}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Runs in the page: the graph as the test sees it. */
function readGraph() {
	const cy = window.cy;
	if (!cy)
		return { loaded: 0, error: window.graphError || null, nodes: [], edges: [] };
	/* The label drawn is a style, not data: add it to what is reported. */
	const withLabel = (ele) => Object.assign({}, ele.data(), { label: ele.style('label') });
	return {
		loaded: window.graphLoaded || 0,
		error: window.graphError || null,
		nodes: cy.nodes().map(withLabel),
		edges: cy.edges().map(withLabel),
	};
}

async function main() {
	const opt = parseArgs(process.argv.slice(2));
	const deadline = Date.now() + opt.timeout * 1000;
	const left = () => Math.max(0, deadline - Date.now());
	const { chromium } = require(path.join(__dirname, '../../../dashboard/node_modules/playwright-core'));

	const consoleErrors = [];
	const failures = [];
	let browser = null;
	let graph = { loaded: 0, error: null, nodes: [], edges: [] };
	let panel = null;
	try {
		browser = await chromium.launch({
			executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
			args: ['--no-sandbox'],
		});
		const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
		page.on('console', (m) => {
			if (m.type() === 'error')
				consoleErrors.push(m.text());
		});
		page.on('pageerror', (err) => consoleErrors.push(String(err && err.stack || err)));

		/* The server may still be starting: retry a refused connection until the deadline. */
		for (;;) {
			try {
				await page.goto(opt.url, { timeout: left() || 1 });
				break;
			} catch (e) {
				if (!/ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE/.test(String(e && e.message)) || left() === 0)
					throw e;
				await sleep(4 * POLL_MS);
			}
		}

		while (left() > 0) {
			graph = await page.evaluate(readGraph);
			if (graph.loaded >= 1)
				break;
			await sleep(POLL_MS);
		}
		if (graph.loaded < 1)
			failures.push('the graph never loaded' + (graph.error ? ': ' + graph.error : ''));

		let pending = graph.loaded >= 1 ? opt.waits.slice() : [];
		while (pending.length) {
			pending = pending.filter((w) => !graph.edges.some((e) => edgeMatches(e, w)));
			if (!pending.length || left() === 0)
				break;
			await sleep(POLL_MS);
			graph = await page.evaluate(readGraph);
		}
		for (const w of pending)
			failures.push('edge not seen: ' + w.spec);
		if (pending.length) {
			failures.push('edges seen (' + graph.edges.length + '):' +
				graph.edges.map((e) => '\n  ' + describeEdge(e)).join(''));
			if (graph.error)
				failures.push('last graph error: ' + graph.error);
		}

		if (opt.click && graph.loaded >= 1) {
			let tapped = false;
			while (!tapped && left() > 0) {
				tapped = await page.evaluate((id) => {
					const ele = window.cy.getElementById(id);
					if (!ele.length)
						return false;
					ele.select();
					ele.emit('tap');
					return true;
				}, opt.click);
				if (!tapped)
					await sleep(POLL_MS);
			}
			if (!tapped) {
				failures.push('no element to click: ' + opt.click);
			} else {
				try {
					await page.waitForFunction((id) => {
						const p = document.getElementById('panel');
						return p && p.dataset.for === id && (p.dataset.state === 'loaded' || p.dataset.state === 'error');
					}, opt.click, { timeout: left() || 1, polling: POLL_MS });
					/* Charts are drawn a tick after the panel fills; let them reach the screenshot. */
					await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
					panel = await page.evaluate(() => document.getElementById('panel-title').innerText + '\n' +
						document.getElementById('panel-body').innerText);
				} catch (e) {
					failures.push('the side panel for ' + opt.click + ' did not load');
				}
			}
		}

		graph = await page.evaluate(readGraph);
		if (opt.screenshot) {
			fs.mkdirSync(path.dirname(path.resolve(opt.screenshot)), { recursive: true });
			await page.screenshot({ path: opt.screenshot, fullPage: true });
		}
	} catch (e) {
		failures.push(String(e && e.message || e));
	} finally {
		if (browser)
			await browser.close().catch(() => {});
	}

	process.stdout.write(JSON.stringify({ nodes: graph.nodes, edges: graph.edges, panel, consoleErrors }, null, 1) +
		'\n');
	if (failures.length) {
		process.stderr.write('dashboard_probe: ' + failures.join('\n').replace(/\x1b\[[0-9;]*m/g, '') + '\n');
		return 1;
	}
	return 0;
}

main().then((rc) => process.exit(rc), (e) => {
	process.stderr.write('dashboard_probe: ' + (e && e.stack || e) + '\n');
	process.exit(1);
});
