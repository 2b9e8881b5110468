#!/usr/bin/env node
/*
 * Times the dashboard page drawing its service graph in headless Chromium (tools/bench/dashboard.sh
 * runs it against dashboard/mock/serve.py --generate).
 *
 *   node dashboard_render.js URL RUNS [--timeout SECONDS] [--hash PARAMS]
 *
 * Each run opens URL#/graph?duration=300&refresh=0 (and &PARAMS: collapse=0 draws a large mesh
 * whole, every namespace open) in a fresh browser context (cold cache) and
 * waits for the graph to be loaded (window.graphLoaded >= 1) and then drawn (cytoscape's first
 * "render" event after it). The page is not changed: a script run before the page's own wraps
 * fetch() (the api/graph request: sent, answer's headers, JSON parsed), cytoscape's factory (each
 * instance's cy.add(), cy.layout().run(), synchronous when unanimated, cy.fit() and its "render"
 * events) and window.graphLoaded (an accessor recording when it is incremented). All times are
 * performance.now(), milliseconds from the start of the navigation. Then the page's refresh
 * button is pressed once and the same is timed for the refresh (the same graph: updated in place).
 * When the page drew the mesh with its namespaces collapsed, a click opening one is timed to the
 * frame drawn, and in the first run the rest are opened one by one, the last click timed: the
 * whole mesh laid out and drawn.
 *
 * Then, unless RUNS_PRESET=0, as many runs again (RUNS_PRESET of them, default RUNS) with every
 * layout swapped for cytoscape's preset one placing the nodes where the first run's layout put
 * them: what drawing the graph costs the page without computing the layout.
 *
 * Prints {"runs": [...], "preset": [...]} on stdout: per run the phases, the layouts run (name, ms), the page's
 * window.graphLayout, the elements drawn and the CPU seconds of the browser's processes by type
 * from the navigation to the graph drawn (Chrome's SystemInfo.getProcessInfo): on a busy machine
 * the wall times above stretch, these much less. Exit 1, with the reason on stderr, when a run fails.
 * Environment: CHROMIUM (default /usr/bin/chromium).
 */
'use strict';

const path = require('path');

/*
 * Runs in the page before its scripts. With @positions (node id to {x, y}) every layout the page
 * runs is swapped for cytoscape's preset layout putting the nodes there: the page's work without
 * the layout's.
 */
function instrument(positions) {
	const b = { fetches: [], adds: [], layouts: [], fits: [], loaded: [], renders: [] };
	window.__bench = b;
	let loaded = 0;
	Object.defineProperty(window, 'graphLoaded', {
		configurable: true,
		get: () => loaded,
		set(v) {
			loaded = v;
			if (v > 0)
				b.loaded.push(performance.now());
		},
	});
	const fetch0 = window.fetch;
	window.fetch = function (url) {
		const p = fetch0.apply(this, arguments);
		if (!String(url).includes('api/graph'))
			return p;
		const rec = { sent: performance.now() };
		b.fetches.push(rec);
		return p.then((res) => {
			rec.headers = performance.now();
			const json = res.json.bind(res);
			res.json = () => json().then((v) => {
				rec.parsed = performance.now();
				return v;
			});
			return res;
		});
	};
	const wrapCore = (cy) => {
		const layout0 = cy.layout.bind(cy);
		cy.layout = function (opts) {
			if (positions && opts && opts.name !== 'preset')
				opts = { name: 'preset', positions: (n) => positions[n.id()], fit: false, animate: false };
			const l = layout0(opts);
			const run0 = l.run.bind(l);
			l.run = function () {
				const start = performance.now();
				const r = run0();
				b.layouts.push({ name: opts && opts.name, start, end: performance.now() });
				return r;
			};
			return l;
		};
		const add0 = cy.add.bind(cy);
		cy.add = function (eles) {
			const start = performance.now();
			const r = add0(eles);
			b.adds.push({ start, end: performance.now() });
			return r;
		};
		const fit0 = cy.fit.bind(cy);
		cy.fit = function () {
			const start = performance.now();
			const r = fit0.apply(null, arguments);
			b.fits.push({ start, end: performance.now() });
			return r;
		};
		cy.on('render', () => b.renders.push(performance.now()));
		/*
		 * cytoscape's WebGL renderer draws in its own render() and emits no "render" event: a call
		 * that found the element layer to redraw is the frame drawn.
		 */
		const r = cy.renderer();
		if (r && r.webgl && typeof r.render === 'function' && r.data && r.data.canvasNeedsRedraw) {
			const render0 = r.render;
			r.render = function () {
				const need = r.data.canvasNeedsRedraw[r.NODE];
				const res = render0.apply(this, arguments);
				if (need && !r.data.canvasNeedsRedraw[r.NODE])
					b.renders.push(performance.now());
				return res;
			};
		}
		return cy;
	};
	let factory;
	Object.defineProperty(window, 'cytoscape', {
		configurable: true,
		get: () => factory,
		set(f) {
			/* cytoscape(options) makes an instance; cytoscape('layout', ...) and the like do not. */
			factory = function (opts) {
				const r = f.apply(this, arguments);
				return opts && typeof opts === 'object' && r && typeof r.layout === 'function' ? wrapCore(r) : r;
			};
			Object.assign(factory, f);
		},
	});
}

/* Runs in the page: what one load (the @nth graphLoaded) took, once the frame after it is drawn. */
function phases(nth) {
	const b = window.__bench;
	const loaded = b.loaded[nth];
	const drawn = b.renders.find((t) => t > loaded);
	if (loaded === undefined || drawn === undefined)
		return null;
	const f = b.fetches.filter((x) => x.parsed !== undefined && x.parsed <= loaded).pop();
	const inLoad = (x) => x.start >= f.parsed && x.end <= loaded;
	const adds = b.adds.filter(inLoad);
	const layouts = b.layouts.filter(inLoad);
	const fits = b.fits.filter(inLoad);
	const sum = (xs) => xs.reduce((s, x) => s + (x.end - x.start), 0);
	const toCy = (adds.length ? adds[0].start : loaded) - f.parsed;
	const cy = window.cy;
	return {
		fetchSent: f.sent,
		serverWait: f.headers - f.sent,			/* request out, answer's headers in */
		bodyAndParse: f.parsed - f.headers,		/* body in, JSON parsed */
		toCytoscape: toCy,				/* graphElements() and the like */
		add: sum(adds),
		layout: sum(layouts),
		layouts: layouts.map((x) => ({ name: x.name, ms: x.end - x.start })),
		fit: sum(fits),
		rest: loaded - f.parsed - toCy - sum(adds) - sum(layouts) - sum(fits),
		firstFrame: drawn - loaded,			/* graphLoaded to the next frame drawn */
		loaded,
		drawn,
		pageWork: drawn - f.headers,			/* the answer in to the graph on screen */
		fetchToDrawn: drawn - f.sent,
		graphLayout: window.graphLayout || null,
		collapsed: window.graphCollapsed || 0,		/* namespaces drawn as one node each */
		elements: cy ? { nodes: cy.nodes().length, boxes: cy.nodes(':parent').length,
			edges: cy.edges().length } : null,
		zoom: cy ? cy.zoom() : null,
	};
}

/*
 * When the page drew the mesh with its namespaces collapsed: a click on the first of them (the page
 * opens it in place, laid out again), timed from the click to the next frame drawn, and what is
 * drawn then. Null when nothing was collapsed.
 */
async function openOne(page, timeout) {
	const at = await page.evaluate(() => {
		const ns = window.cy.nodes('[?collapsed]');
		if (!window.graphCollapsed || !ns.length)
			return null;
		const b = window.__bench;
		b.opened = { id: ns[0].id(), clicked: performance.now() };
		ns[0].emit('tap');
		b.opened.rendered = performance.now();
		return b.opened.clicked;
	});
	if (at === null)
		return null;
	await page.waitForFunction(() => {
		const b = window.__bench;
		return b.renders.some((x) => x > b.opened.rendered);
	}, null, { timeout: timeout * 1000, polling: 20 });
	return page.evaluate(() => {
		const b = window.__bench;
		const cy = window.cy;
		const inOpen = (x) => x.start >= b.opened.clicked && x.end <= b.opened.rendered;
		return {
			id: b.opened.id,
			clickToDrawn: b.renders.find((x) => x > b.opened.rendered) - b.opened.clicked,
			layout: b.layouts.filter(inOpen).reduce((s, x) => s + (x.end - x.start), 0),
			collapsed: window.graphCollapsed,
			elements: { nodes: cy.nodes().length, boxes: cy.nodes(':parent').length, edges: cy.edges().length },
		};
	});
}

/*
 * After openOne(): the other collapsed namespaces opened one click at a time, the last click timed
 * to the frame drawn: the whole mesh laid out and drawn, as the page drew it before it collapsed
 * large meshes.
 */
async function openAll(page, timeout) {
	for (;;) {
		const left = await page.evaluate(() => {
			const ns = window.cy.nodes('[?collapsed]');
			if (!ns.length)
				return 0;
			const b = window.__bench;
			b.opened = { id: ns[0].id(), clicked: performance.now() };
			ns[0].emit('tap');
			b.opened.rendered = performance.now();
			return ns.length;
		});
		if (!left)
			return null;
		await page.waitForFunction(() => {
			const b = window.__bench;
			return b.renders.some((x) => x > b.opened.rendered);
		}, null, { timeout: timeout * 1000, polling: 20 });
		if (left === 1)
			break;
	}
	return page.evaluate(() => {
		const b = window.__bench;
		const cy = window.cy;
		const inOpen = (x) => x.start >= b.opened.clicked && x.end <= b.opened.rendered;
		return {
			clickToDrawn: b.renders.find((x) => x > b.opened.rendered) - b.opened.clicked,
			layout: b.layouts.filter(inOpen).reduce((s, x) => s + (x.end - x.start), 0),
			elements: { nodes: cy.nodes().length, boxes: cy.nodes(':parent').length, edges: cy.edges().length },
		};
	});
}

async function main() {
	const args = process.argv.slice(2);
	const url = args[0];
	const runs = Number(args[1] || 5);
	let timeout = 120;
	const t = args.indexOf('--timeout');
	if (t >= 0)
		timeout = Number(args[t + 1]);
	const h = args.indexOf('--hash');
	const hash = h >= 0 && args[h + 1] ? '&' + args[h + 1] : '';
	if (!url || !(runs > 0) || !(timeout > 0)) {
		process.stderr.write('usage: dashboard_render.js URL RUNS [--timeout SECONDS] [--hash PARAMS]\n');
		return 2;
	}
	const { chromium } = require(path.join(__dirname, '../../dashboard/node_modules/playwright-core'));
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		args: ['--no-sandbox'],
	});
	/* CPU seconds of the browser's processes by type, from the first snapshot @a to @b (per pid). */
	const cdp = await browser.newBrowserCDPSession();
	const procs = async () => (await cdp.send('SystemInfo.getProcessInfo')).processInfo;
	const cpuSince = (a, b) => {
		const before = new Map(a.map((p) => [p.id, p.cpuTime]));
		const by = {};
		for (const p of b)
			by[p.type] = (by[p.type] || 0) + p.cpuTime - (before.get(p.id) || 0);
		return by;
	};
	const out = [];
	const preset = [];
	const presetRuns = process.env.RUNS_PRESET !== undefined ? Number(process.env.RUNS_PRESET) : runs;
	let positions = null;
	try {
		for (let i = 0; i < runs + presetRuns; i++) {
			const given = i >= runs;
			const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
			const page = await ctx.newPage();
			const errors = [];
			page.on('pageerror', (e) => errors.push(String(e && e.message || e)));
			page.on('console', (m) => {
				if (m.type() === 'error')
					errors.push(m.text());
			});
			await page.addInitScript(instrument, given ? positions : null);
			const p0 = await procs();
			await page.goto(url.replace(/\/?$/, '/') + '#/graph?duration=300&refresh=0' + hash,
				{ timeout: timeout * 1000 });
			const drawn = (n) => page.waitForFunction((k) => {
				const b = window.__bench;
				return b.loaded.length > k && b.renders.some((x) => x > b.loaded[k]);
			}, n, { timeout: timeout * 1000, polling: 20 });
			try {
				await drawn(0);
			} catch (e) {
				throw new Error('run ' + (i + 1) + ': the graph was not drawn: ' +
					(await page.evaluate(() => window.graphError)) + ' ' + errors.join('; '));
			}
			const first = await page.evaluate(phases, 0);
			first.cpu = cpuSince(p0, await procs());
			if (!positions) {
				positions = await page.evaluate(() => {
					const at = {};
					window.cy.nodes().forEach((n) => {
						if (!n.isParent())
							at[n.id()] = n.position();
					});
					return at;
				});
			}
			const clicked = await page.evaluate(() => {
				const at = performance.now();
				document.getElementById('refresh-now').click();
				return at;
			});
			await drawn(1);
			const again = await page.evaluate(phases, 1);
			again.clickToDrawn = again.drawn - clicked;
			const open = await openOne(page, timeout);
			const whole = i === 0 && open ? await openAll(page, timeout) : null;
			(given ? preset : out).push({ first, refresh: again, open, whole, errors });
			await ctx.close();
		}
	} finally {
		await browser.close().catch(() => {});
	}
	process.stdout.write(JSON.stringify({ runs: out, preset }, null, 1) + '\n');
	return 0;
}

main().then((rc) => process.exit(rc), (e) => {
	process.stderr.write('dashboard_render: ' + (e && e.stack || e) + '\n');
	process.exit(1);
});
