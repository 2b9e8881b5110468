#!/usr/bin/env node
/*
 * Opens each Grafana dashboard `ambitctl dashboard --grafana-dashboards` serves, in headless
 * Chromium, and prints what each panel shows.
 *
 *   node grafana_probe.js URL [--screenshots DIR] [--open FILE[?var-NAME=VALUE&...]]...
 *                             [--timeout SECONDS]
 *
 * URL is the dashboard's origin. The probe reads the list (#/dashboards), then opens each
 * dashboard of it, then each --open (a dashboard with its variables set as the query string says,
 * Grafana's URL form), opens its collapsed rows one by one, as a user would,
 * and waits until no panel is loading. With --screenshots it saves DIR/<file>.png of each (the
 * whole page, every row open; DIR/<file>-<n>.png for the n-th --open). Prints {"list", "dashboards": [{file, title, documentTitle,
 * variables: {name: [values]}, panels: [{title, type, state, detail, queries, row, html}]}],
 * "consoleErrors"} on stdout;
 * a panel's state is data, nodata, error, unsupported or text (grafana.js's data-state), detail
 * its series count, value or rows, queries the PromQL it sent (variables interpolated) with the
 * range asked, html a text panel's markup as drawn (else null). Exit 0 when every dashboard settled, 1 otherwise (the reason on stderr).
 *
 * Environment: CHROMIUM (default /usr/bin/chromium).
 */
'use strict';

const path = require('path');
const probe = require('./probe_lib.js');

const POLL_MS = probe.POLL_MS;
const usage = probe.usageOf('grafana_probe',
	'URL [--screenshots DIR] [--open FILE[?VARS]]... [--timeout SECONDS]');

function parseArgs(argv) {
	const opt = { url: null, shots: null, open: [], timeout: 180 };
	probe.parseArgs(argv, {
		'--screenshots': (v) => { opt.shots = v; },
		'--open': (v) => { opt.open.push(v); },
		'--timeout': (v) => { opt.timeout = probe.seconds(v, usage); },
	}, (a) => {
		if (opt.url)
			usage('one URL');
		opt.url = a.replace(/\/+$/, '').replace(/#.*$/, '');
	}, usage);
	if (!opt.url)
		usage('no URL');
	return opt;
}

/* In the page: every panel settled (none loading) after at least @since draws. */
function settled(since) {
	return window.grafanaLoaded > since &&
		!document.querySelector('.gf-panel[data-state="loading"]');
}

function readPanels() {
	const out = [];
	let row = null;
	for (const e of document.querySelectorAll('#gf-grid > *')) {
		if (e.dataset.type === 'row') {
			row = e.dataset.title;
			continue;
		}
		out.push({ title: e.dataset.title, type: e.dataset.type, state: e.dataset.state,
			detail: e.dataset.detail, queries: e.gfQueries || [], row,
			html: e.dataset.type === 'text' && e.querySelector('.gf-text') ?
				e.querySelector('.gf-text').innerHTML : null });
	}
	return out;
}

async function main() {
	const opt = parseArgs(process.argv.slice(2));
	const deadline = Date.now() + opt.timeout * 1000;
	const left = () => Math.max(1, deadline - Date.now());
	const consoleErrors = [];
	const failures = [];
	const result = { list: null, dashboards: [], consoleErrors };
	let browser = null;

	try {
		const opened = await probe.openBrowser({ width: 1600, height: 1000 }, consoleErrors);
		browser = opened.browser;
		const page = opened.page;
		await page.goto(opt.url + '/#/dashboards', { timeout: left() });
		await page.waitForFunction(() => Array.isArray(window.grafanaList), null,
			{ timeout: left(), polling: POLL_MS });
		result.list = await page.evaluate(() => window.grafanaList);
		const views = result.list.filter((d) => !d.error).map((d) => ({ file: d.file, query: '', shot: d.file }))
			.concat(opt.open.map((o, i) => {
				const q = o.indexOf('?');
				const file = q < 0 ? o : o.slice(0, q);
				return { file, query: q < 0 ? '' : '&' + o.slice(q + 1), shot: file.replace(/\.json$/, '') + '-' + (i + 1) };
			}));
		for (const view of views) {
			const file = view.file;
			const before = await page.evaluate(() => window.grafanaLoaded);
			await page.evaluate((h) => {
				location.hash = h;
			}, '#/dashboards?d=' + encodeURIComponent(file) + view.query);
			const one = { file, query: view.query.slice(1), title: null, variables: {}, panels: [] };
			result.dashboards.push(one);
			try {
				await page.waitForFunction(settled, before, { timeout: left(), polling: POLL_MS });
				/* Each closed row opened, one at a time: opening one redraws the dashboard. */
				for (;;) {
					const n = await page.evaluate(() => window.grafanaLoaded);
					const opened = await page.evaluate(() => {
						const r = document.querySelector('#gf-grid .gf-row.collapsed');
						if (r)
							r.click();
						return !!r;
					});
					if (!opened)
						break;
					await page.waitForFunction(settled, n, { timeout: left(), polling: POLL_MS });
				}
			} catch (e) {
				failures.push(file + ': its panels never settled');
			}
			/* Charts are drawn a frame after their panel fills; let them reach the screenshot. */
			await page.waitForTimeout(300);
			one.title = await page.evaluate(() => document.getElementById('gf-title').textContent);
			/* What a text panel's script would have changed, had it run. */
			one.documentTitle = await page.evaluate(() => document.title);
			one.variables = await page.evaluate(() => {
				const v = {};
				for (const s of document.querySelectorAll('#gf-vars [data-var]'))
					v[s.dataset.var] = JSON.parse(s.dataset.values);
				return v;
			});
			one.panels = await page.evaluate(readPanels);
			if (opt.shots) {
				/* The view scrolls inside the page: a viewport as tall as it shows it all. */
				const h = await page.evaluate(() => document.getElementById('view-dashboards').scrollHeight + 60);
				await page.setViewportSize({ width: 1600, height: Math.min(16000, Math.max(1000, h)) });
				await page.waitForTimeout(300);
				await probe.screenshot(page, path.join(opt.shots, view.shot.replace(/\.json$/, '') + '.png'));
				await page.setViewportSize({ width: 1600, height: 1000 });
			}
		}
	} catch (e) {
		failures.push(String(e && e.message || e));
	} finally {
		if (browser)
			await browser.close();
	}
	process.stdout.write(JSON.stringify(result, null, 1) + '\n');
	for (const f of failures)
		process.stderr.write('grafana_probe: ' + f + '\n');
	process.exit(failures.length ? 1 : 0);
}

main();
