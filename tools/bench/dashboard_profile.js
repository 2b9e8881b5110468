#!/usr/bin/env node
/*
 * Where the page's time goes drawing the whole mesh: a CPU profile of headless Chromium's
 * renderer (CDP Profiler, sampled every INTERVAL microseconds) from the navigation to the graph
 * on screen, for dashboard/mock/serve.py --generate (tools/bench/dashboard.sh runs it with
 * PROFILE=1).
 *
 *   node dashboard_profile.js URL [HASH] [--runs N] [--interval US] [--top N] [--timeout S]
 *                             [--save PREFIX]
 *
 * URL#/graph?duration=300&refresh=0&HASH is opened (HASH defaults to collapse=0: the mesh drawn
 * whole, every namespace open) RUNS times in a fresh context; the page's cytoscape.min.js is
 * answered with the same version's unminified build (cytoscape.umd.js) so the profile names its
 * functions. Each run's samples are summed by function (name, file and line): self time, and
 * total time (the function anywhere on the stack, counted once a sample). Prints JSON on stdout:
 * {"runs": N, "ms": [navigation to drawn per run], "self": [...top], "total": [...top],
 * "byFile": {file: self ms}}, every figure the median over the runs. Exit 1 when a run fails.
 * --save writes each run's raw profile to PREFIX.N.cpuprofile (Chrome's DevTools opens it).
 * Environment: CHROMIUM (default /usr/bin/chromium).
 */
'use strict';

const fs = require('fs');
const path = require('path');

const MODULES = path.join(__dirname, '../../dashboard/node_modules');

function median(xs) {
	const s = xs.slice().sort((a, b) => a - b);
	if (!s.length)
		return 0;
	return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/*
 * Self and total milliseconds by function of one profile. A sample's time is its delta to the
 * next; "(program)", "(idle)" and "(garbage collector)" are kept: they are where a frame's time
 * outside JavaScript (style, paint) and the collector's show.
 */
function summarise(profile) {
	const byId = new Map(profile.nodes.map((n) => [n.id, n]));
	const parent = new Map();
	for (const n of profile.nodes) {
		for (const c of n.children || [])
			parent.set(c, n.id);
	}
	const key = (n) => {
		const f = n.callFrame;
		const file = f.url ? path.basename(f.url.split('?')[0]) : '';
		return (f.functionName || '(anonymous)') + (file ? ' ' + file + ':' + (f.lineNumber + 1) : '');
	};
	const self = new Map();
	const total = new Map();
	const byFile = new Map();
	const { samples, timeDeltas } = profile;
	for (let i = 0; i < samples.length; i++) {
		const dt = (i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0) / 1000;
		const leaf = byId.get(samples[i]);
		const k = key(leaf);
		self.set(k, (self.get(k) || 0) + dt);
		const file = leaf.callFrame.url ? path.basename(leaf.callFrame.url.split('?')[0]) : leaf.callFrame.functionName;
		byFile.set(file, (byFile.get(file) || 0) + dt);
		const seen = new Set();
		for (let id = samples[i]; id !== undefined; id = parent.get(id)) {
			const kk = key(byId.get(id));
			if (!seen.has(kk)) {
				seen.add(kk);
				total.set(kk, (total.get(kk) || 0) + dt);
			}
		}
	}
	return { self, total, byFile };
}

async function main() {
	const args = process.argv.slice(2);
	const opt = (name, dflt) => {
		const i = args.indexOf(name);
		if (i < 0)
			return dflt;
		const v = args[i + 1];
		args.splice(i, 2);
		return Number(v);
	};
	const runs = opt('--runs', 3);
	const interval = opt('--interval', 200);
	const top = opt('--top', 25);
	const save = (() => {
		const i = args.indexOf('--save');
		return i < 0 ? null : args.splice(i, 2)[1];
	})();
	const timeout = opt('--timeout', 120);
	const url = args[0];
	const hash = args[1] === undefined ? 'collapse=0' : args[1];
	if (!url || !(runs > 0) || !(interval > 0) || !(top > 0) || !(timeout > 0)) {
		process.stderr.write('usage: dashboard_profile.js URL [HASH] [--runs N] [--interval US] [--top N] [--timeout S] [--save PREFIX]\n');
		return 2;
	}
	const umd = fs.readFileSync(path.join(MODULES, 'cytoscape/dist/cytoscape.umd.js'));
	const { chromium } = require(path.join(MODULES, 'playwright-core'));
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		args: ['--no-sandbox'],
	});
	const sums = { self: new Map(), total: new Map(), byFile: new Map() };
	const add = (into, from) => {
		for (const [k, v] of from) {
			if (!into.has(k))
				into.set(k, []);
			into.get(k).push(v);
		}
	};
	const ms = [];
	try {
		for (let i = 0; i < runs; i++) {
			const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
			const page = await ctx.newPage();
			await page.route('**/lib/cytoscape.min.js', (r) =>
				r.fulfill({ status: 200, contentType: 'application/javascript', body: umd }));
			/* The frame after the graph is loaded: cytoscape's first "render" event after it. */
			await page.addInitScript(() => {
				let loaded = 0;
				window.__drawn = null;
				Object.defineProperty(window, 'graphLoaded', {
					configurable: true,
					get: () => loaded,
					set(v) {
						loaded = v;
						if (v === 1 && window.cy)
							window.cy.one('render', () => { window.__drawn = performance.now(); });
					},
				});
			});
			const cdp = await ctx.newCDPSession(page);
			await cdp.send('Profiler.enable');
			await cdp.send('Profiler.setSamplingInterval', { interval });
			await cdp.send('Profiler.start');
			await page.goto(url.replace(/\/?$/, '/') + '#/graph?duration=300&refresh=0' + (hash ? '&' + hash : ''),
				{ timeout: timeout * 1000 });
			await page.waitForFunction(() => window.__drawn !== null, null,
				{ timeout: timeout * 1000, polling: 50 });
			const { profile } = await cdp.send('Profiler.stop');
			if (save)
				fs.writeFileSync(save + '.' + (i + 1) + '.cpuprofile', JSON.stringify(profile));
			ms.push(await page.evaluate(() => window.__drawn));
			const s = summarise(profile);
			add(sums.self, s.self);
			add(sums.total, s.total);
			add(sums.byFile, s.byFile);
			await ctx.close();
		}
	} finally {
		await browser.close().catch(() => {});
	}
	/* A function missing from a run counts 0 there. */
	const med = (m) => Array.from(m, ([k, v]) => [k, median(v.concat(Array(runs - v.length).fill(0)))])
		.sort((a, b) => b[1] - a[1]);
	const round = (x) => Math.round(x * 10) / 10;
	const out = {
		runs, interval_us: interval, hash, ms: ms.map(round),
		self: med(sums.self).slice(0, top).map(([fn, v]) => ({ fn, ms: round(v) })),
		total: med(sums.total).slice(0, top).map(([fn, v]) => ({ fn, ms: round(v) })),
		byFile: Object.fromEntries(med(sums.byFile).filter(([, v]) => v >= 1).map(([k, v]) => [k || '(native)', round(v)])),
	};
	process.stdout.write(JSON.stringify(out, null, 1) + '\n');
	return 0;
}

main().then((rc) => process.exit(rc), (e) => {
	process.stderr.write('dashboard_profile: ' + (e && e.stack || e) + '\n');
	process.exit(1);
});
