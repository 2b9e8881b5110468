#!/usr/bin/env node
/*
 * Drives the `ambitctl dashboard` web UI in headless Chromium and prints what its graph shows.
 *
 *   node dashboard_probe.js URL [--wait-edge SRC_ID,DST_ID,PROTOCOL[,health=H][,mtls]]...
 *                               [--open NS_ID] [--collapse NS_ID] [--click ID [--follow-traces]]
 *                               [--zoom LEVEL]
 *                               [--screenshot FILE] [--timeout SECONDS] [--out FILE]
 *                               [--then URL [OPTIONS]]...
 *   node dashboard_probe.js URL#/traces?... [--trace ID [--span NAME]] [--screenshot FILE]
 *                               [--timeout SECONDS]
 *   node dashboard_probe.js URL#/config [--screenshot FILE] [--timeout SECONDS]
 *
 * URL is the dashboard's origin (the probe opens #/graph?duration=300&refresh=5 there) or a full
 * #/graph URL, used as given. Each --wait-edge is polled, across the page's own refreshes, until
 * an edge from SRC_ID to DST_ID with that protocol exists (and has that health, and mtls > 0).
 * --open taps a namespace the page drew collapsed (a large mesh) and waits for it to be open.
 * --collapse then taps an open namespace's box and its panel's "Collapse namespace", and waits for
 * it to be one node again.
 * --zoom zooms the graph to LEVEL about the view's centre, last, as a user's wheel does.
 * --click taps a node or edge by id and waits for the side panel's data; --follow-traces then
 * follows the panel's Traces link and waits for the Traces view's list. With a #/traces URL the
 * probe waits for the traces view's list; --trace waits (across the list's refreshes) for that
 * trace in the list, opens it and reads its waterfall; --span clicks the waterfall's row of that
 * span name and reads what it shows. With a #/config URL it waits for the configuration's table.
 * One deadline covers it all.
 *
 * --then starts another step, a URL and options of its own as above, read in the same browser (a
 * new page for each step: nothing kept from the one before), sparing a test a browser's start for
 * each view it reads; --out FILE writes a step's record to FILE instead of stdout.
 *
 * Prints {"nodes", "edges", "view", "lockEm", "panel", "traces", "config", "consoleErrors"} on stdout,
 * also when a wait failed (then as a record of what was seen): nodes and edges are the cytoscape
 * data (the API's fields plus `color`) with the label drawn added as `label` (e.g. "🔒 60% 5.0
 * KiB/s") and each node's box on screen without its label as `box` {x1, y1, x2, y2} (px); view is
 * {layout (the page's window.graphLayout name), menu (the layout menu's choice), zoom, width,
 * height, hash (the page's address after it all, from #)}; lockEm the width of the padlock (U+1F512) in the page's font, in ems (0.76: the page's
 * own glyph); panel is the side panel's text after --click, else null; traces is {hash, services
 * (the service menu's entries), list: [{traceID, text}], rows: [{depth, service, name, spanID,
 * error, left, width}] (the waterfall's, in order; left and width of the bar in % of the trace),
 * span: the clicked row's details' text} or null; config is the table's rows as [kind, namespace,
 * name, API version] or null. Exit 0: every step's waits met; 1: one not met by its deadline, or
 * the browser or a page failed, with the reason (and the step's number) on stderr. Every step
 * runs, and writes its record, also after one failed.
 *
 * Environment: CHROMIUM (default /usr/bin/chromium).
 */
'use strict';

const fs = require('fs');
const probe = require('./probe_lib.js');

const POLL_MS = probe.POLL_MS;
const usage = probe.usageOf('dashboard_probe', 'URL [--wait-edge SRC,DST,PROTO[,health=H][,mtls]]... ' +
	'[--open NS_ID] [--collapse NS_ID] [--click ID [--follow-traces]] [--zoom LEVEL] ' +
	'[--trace ID [--span NAME]] [--screenshot FILE] [--timeout SECONDS] [--out FILE] [--then URL [OPTIONS]]...');

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
	const opt = { url: null, waits: [], open: null, collapse: null, click: null, follow: false, trace: null, span: null, screenshot: null,
		zoom: null, timeout: 60, out: null };
	const set = (k) => (v) => { opt[k] = v; };
	probe.parseArgs(argv, {
		'--wait-edge': (v) => { opt.waits.push(parseEdge(v)); },
		'--open': set('open'),
		'--collapse': set('collapse'),
		'--click': set('click'),
		'--follow-traces': () => { opt.follow = true; },
		'--trace': set('trace'),
		'--span': set('span'),
		'--screenshot': set('screenshot'),
		'--out': set('out'),
		'--zoom': (v) => {
			opt.zoom = Number(v);
			if (!(opt.zoom > 0))
				usage('--zoom wants a positive zoom level');
		},
		'--timeout': (v) => { opt.timeout = probe.seconds(v, usage); },
	}, (a) => {
		if (opt.url !== null)
			usage('more than one URL');
		opt.url = a;
	}, usage);
	if (!opt.url)
		usage('no URL');
	if (!opt.url.includes('#'))
		opt.url = opt.url.replace(/\/?$/, '/') + '#/graph?duration=300&refresh=5';
	opt.tracesView = /#\/traces/.test(opt.url);
	opt.configView = /#\/config/.test(opt.url);
	opt.otherView = opt.tracesView || opt.configView;
	if ((opt.trace || opt.span) && !opt.tracesView)
		usage('--trace and --span want a #/traces URL');
	if (opt.span && !opt.trace)
		usage('--span wants --trace');
	if (opt.follow && !opt.click)
		usage('--follow-traces wants --click');
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
	const withBox = (n) => {
		const b = n.renderedBoundingBox({ includeLabels: false, includeOverlays: false });
		return Object.assign(withLabel(n), { box: { x1: Math.round(b.x1), y1: Math.round(b.y1),
			x2: Math.round(b.x2), y2: Math.round(b.y2) } });
	};
	/*
	 * The padlock's advance in the page's font at 100 px, over 100: 0.76 from the page's own
	 * ambit-icons font; an emoji font's or a missing glyph's box measure otherwise.
	 */
	const cx = document.createElement('canvas').getContext('2d');
	cx.font = '100px ' + getComputedStyle(document.body).fontFamily;
	return {
		loaded: window.graphLoaded || 0,
		error: window.graphError || null,
		lockEm: Math.round(cx.measureText('\u{1F512}').width) / 100,
		nodes: cy.nodes().map(withBox),
		edges: cy.edges().map(withLabel),
		view: { layout: window.graphLayout ? window.graphLayout.name : null,
			menu: document.getElementById('layout').value, zoom: cy.zoom(),
			width: cy.width(), height: cy.height(), hash: location.hash },
	};
}

/* Runs in the page: the configuration view's rows (not their YAML), [kind, namespace, name, API version]. */
function readConfig() {
	return Array.from(document.querySelectorAll('#cfg-table tbody tr:not(.yaml-row)')).map((tr) =>
		Array.from(tr.cells).slice(1, 5).map((c) => c.innerText.trim()));
}

/* Runs in the page: the Traces view as the test sees it. */
function readTraces() {
	const pct = (v) => (v ? Number(v.replace('%', '')) : null);
	return {
		hash: location.hash,
		loaded: window.tracesLoaded || 0,
		shown: window.traceShown || null,
		services: Array.from(document.querySelectorAll('#tr-service option')).map((o) => o.textContent),
		list: Array.from(document.querySelectorAll('#tr-table tbody tr[data-trace-id]')).map((tr) => ({
			traceID: tr.dataset.traceId,
			text: tr.innerText.replace(/\s+/g, ' ').trim(),
		})),
		rows: Array.from(document.querySelectorAll('#tr-waterfall .wf-row')).map((r) => {
			const bar = r.querySelector('.wf-bar');
			return {
				depth: Number(r.dataset.depth),
				service: r.dataset.service,
				name: r.dataset.name,
				spanID: r.dataset.spanId,
				error: !!(bar && bar.classList.contains('error')),
				left: bar ? pct(bar.style.left) : null,
				width: bar ? pct(bar.style.width) : null,
			};
		}),
		span: null,
	};
}

/* The Traces view: its list, then --trace's waterfall, then --span's details. */
async function probeTraces(page, opt, left, failures) {
	let t = null;
	for (;;) {
		t = await page.evaluate(readTraces);
		if (t.loaded >= 1 && (!opt.trace || t.list.some((r) => r.traceID === opt.trace)))
			break;
		if (left() === 0) {
			failures.push(t.loaded < 1 ? 'the traces list never loaded' : 'trace not listed: ' + opt.trace +
				' (listed: ' + t.list.map((r) => r.traceID).join(', ') + ')');
			return t;
		}
		await sleep(POLL_MS);
	}
	if (!opt.trace)
		return t;
	await page.click(`#tr-table tbody tr[data-trace-id="${opt.trace}"]`, { timeout: left() || 1 });
	try {
		await page.waitForFunction((id) => window.traceShown === id, opt.trace, { timeout: left() || 1,
			polling: POLL_MS });
	} catch (e) {
		failures.push('the waterfall of ' + opt.trace + ' never showed');
		return page.evaluate(readTraces);
	}
	t = await page.evaluate(readTraces);
	if (opt.span) {
		t.span = await page.evaluate((name) => {
			const row = Array.from(document.querySelectorAll('#tr-waterfall .wf-row'))
				.find((r) => r.dataset.name === name);
			if (!row)
				return null;
			row.click();
			const detail = row.nextElementSibling;
			return detail && !detail.hidden ? detail.innerText : null;
		}, opt.span);
		if (t.span === null)
			failures.push('no waterfall row for span ' + opt.span + ', or its details did not open');
	}
	return t;
}

/* The traces or configuration view read: its screenshot, and nothing of the graph's left to do. */
async function endView(page, opt) {
	if (opt.screenshot)
		await probe.screenshot(page, opt.screenshot);
	opt.waits = [];
	opt.click = null;
	opt.screenshot = null;
}

/* The command line's steps: its words split at each --then, each step's options read. */
function parseSteps(argv) {
	const steps = [[]];
	for (const a of argv) {
		if (a === '--then')
			steps.push([]);
		else
			steps[steps.length - 1].push(a);
	}
	const opts = steps.map(parseArgs);
	if (opts.slice(0, -1).some((o) => !o.out))
		usage('each step before the last wants --out (one record to stdout at most)');
	return opts;
}

const VIEWPORT = { width: 1400, height: 900 };

/*
 * One step in @browser (its page opened and closed here): its record, and what failed into
 * @failures.
 */
async function runStep(browser, opt, failures) {
	const deadline = Date.now() + opt.timeout * 1000;
	const left = () => Math.max(0, deadline - Date.now());

	const consoleErrors = [];
	let page = null;
	let graph = { loaded: 0, error: null, nodes: [], edges: [] };
	let panel = null;
	let traces = null;
	let config = null;
	try {
		page = await probe.newPage(browser, VIEWPORT, consoleErrors);

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

		if (opt.tracesView) {
			traces = await probeTraces(page, opt, left, failures);
			await endView(page, opt);
		}
		if (opt.configView) {
			for (;;) {
				config = await page.evaluate(readConfig);
				if (config.length || left() === 0)
					break;
				await sleep(POLL_MS);
			}
			if (!config.length)
				failures.push('the configuration view showed no objects');
			await endView(page, opt);
		}
		while (!opt.otherView && left() > 0) {
			graph = await page.evaluate(readGraph);
			if (graph.loaded >= 1)
				break;
			await sleep(POLL_MS);
		}
		if (!opt.otherView && graph.loaded < 1)
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

		if (opt.open && graph.loaded >= 1) {
			const state = await page.evaluate((id) => {
				const ele = window.cy.getElementById(id);
				if (!ele.length || !ele.data('collapsed'))
					return ele.length ? 'not collapsed' : 'absent';
				ele.emit('tap');
				return 'tapped';
			}, opt.open);
			if (state !== 'tapped') {
				failures.push('no collapsed namespace to open: ' + opt.open + ' (' + state + ')');
			} else {
				try {
					await page.waitForFunction((id) => {
						const ele = window.cy.getElementById(id);
						return ele.length && !ele.data('collapsed') && ele.isParent();
					}, opt.open, { timeout: left() || 1, polling: POLL_MS });
				} catch (e) {
					failures.push('the namespace ' + opt.open + ' did not open');
				}
			}
			graph = await page.evaluate(readGraph);
		}

		if (opt.collapse && graph.loaded >= 1) {
			const tapped = await page.evaluate((id) => {
				const ele = window.cy.getElementById(id);
				if (!ele.length || ele.data('collapsed'))
					return false;
				ele.emit('tap');
				return true;
			}, opt.collapse);
			try {
				if (!tapped)
					throw new Error('no open namespace ' + opt.collapse);
				await page.click('#panel button.collapse-ns', { timeout: left() || 1 });
				await page.waitForFunction((id) => {
					const ele = window.cy.getElementById(id);
					return ele.length && ele.data('collapsed');
				}, opt.collapse, { timeout: left() || 1, polling: POLL_MS });
			} catch (e) {
				failures.push('the namespace ' + opt.collapse + ' did not collapse again: ' +
					String(e && e.message || e).split('\n')[0]);
			}
			graph = await page.evaluate(readGraph);
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
				if (opt.follow) {
					try {
						const before = await page.evaluate(() => window.tracesLoaded || 0);
						await page.click('#panel [data-traces-link]', { timeout: left() || 1 });
						await page.waitForFunction((n) => document.body.dataset.view === 'traces' &&
							window.tracesLoaded > n, before, { timeout: left() || 1, polling: POLL_MS });
						traces = await page.evaluate(readTraces);
					} catch (e) {
						failures.push('the panel\'s Traces link did not open the Traces view');
					}
				}
			}
		}

		if (opt.zoom && graph.loaded >= 1) {
			/* The next frame drawn after the zoom: what a user sees once the wheel stops. */
			await page.evaluate((z) => new Promise((r) => {
				const cy = window.cy;
				cy.one('render', () => r());
				cy.zoom({ level: z, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } });
			}), opt.zoom);
		}
		if (!opt.otherView)
			graph = await page.evaluate(readGraph);
		if (opt.screenshot)
			await probe.screenshot(page, opt.screenshot);
	} catch (e) {
		failures.push(String(e && e.message || e));
	} finally {
		if (page)
			await page.close().catch(() => {});
	}
	return { nodes: graph.nodes, edges: graph.edges, view: graph.view || null,
		lockEm: graph.lockEm === undefined ? null : graph.lockEm, panel, traces, config, consoleErrors };
}

async function main() {
	const steps = parseSteps(process.argv.slice(2));
	const failed = [];
	let browser = null;
	try {
		browser = await probe.launch();
		for (const [i, opt] of steps.entries()) {
			const failures = [];
			const record = JSON.stringify(await runStep(browser, opt, failures), null, 1) + '\n';
			if (opt.out)
				fs.writeFileSync(opt.out, record);
			else
				process.stdout.write(record);
			const name = steps.length > 1 ? `step ${i + 1} (${opt.url}): ` : '';
			failed.push(...failures.map((f) => name + f));
		}
	} catch (e) {
		failed.push('the browser: ' + String(e && e.message || e));
	} finally {
		if (browser)
			await browser.close().catch(() => {});
	}
	if (failed.length) {
		process.stderr.write('dashboard_probe: ' + failed.join('\n').replace(/\x1b\[[0-9;]*m/g, '') + '\n');
		return 1;
	}
	return 0;
}

main().then((rc) => process.exit(rc), (e) => {
	process.stderr.write('dashboard_probe: ' + (e && e.stack || e) + '\n');
	process.exit(1);
});
