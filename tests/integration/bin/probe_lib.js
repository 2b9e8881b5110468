/*
 * What the dashboard's Chromium probes (dashboard_probe.js, grafana_probe.js) share: their command
 * line, Debian's headless Chromium with a page whose console errors are collected, and a
 * screenshot of the whole page.
 */
'use strict';

const fs = require('fs');
const path = require('path');

const POLL_MS = 250;

/*
 * The probe @name's usage(msg): says @msg (when given) and the usage line @line on stderr, and
 * exits 1 (0 without @msg: --help).
 */
function usageOf(name, line) {
	return (msg) => {
		if (msg)
			process.stderr.write(name + ': ' + msg + '\n');
		process.stderr.write('usage: ' + name + '.js ' + line + '\n');
		process.exit(msg ? 1 : 0);
	};
}

/*
 * Reads @argv: @flags maps each option to what takes it, a function of its value, or of nothing
 * for an option without one; any other word is the URL, given to @onUrl. -h and --help are
 * @usage(); an unknown option or a value missing is @usage(why).
 */
function parseArgs(argv, flags, onUrl, usage) {
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (a === '-h' || a === '--help')
			usage();
		else if (Object.prototype.hasOwnProperty.call(flags, a)) {
			const take = flags[a];
			if (take.length === 0)
				take();
			else if (i + 1 >= argv.length)
				usage(a + ' needs a value');
			else
				take(argv[++i]);
		} else if (a.startsWith('--'))
			usage('unknown option ' + a);
		else
			onUrl(a);
	}
}

/* --timeout's value: positive seconds, else @usage(why). */
function seconds(s, usage) {
	const n = Number(s);
	if (!(n > 0))
		usage('--timeout wants a positive number of seconds');
	return n;
}

/*
 * Debian's Chromium (or $CHROMIUM), headless, and a page of @viewport whose console errors and
 * uncaught exceptions are pushed to @consoleErrors as they come: {browser, page}.
 */
async function openBrowser(viewport, consoleErrors) {
	const browser = await launch();
	return { browser, page: await newPage(browser, viewport, consoleErrors) };
}

/* Debian's Chromium (or $CHROMIUM), headless, without a page. */
function launch() {
	const { chromium } = require(path.join(__dirname, '../../../dashboard/node_modules/playwright-core'));
	return chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		args: ['--no-sandbox'],
	});
}

/*
 * A new page of @browser (a document of its own, nothing kept from another page's) of @viewport,
 * its console errors and uncaught exceptions pushed to @consoleErrors as they come.
 */
async function newPage(browser, viewport, consoleErrors) {
	const page = await browser.newPage({ viewport });
	page.on('console', (m) => {
		if (m.type() === 'error')
			consoleErrors.push(m.text());
	});
	page.on('pageerror', (err) => consoleErrors.push(String(err && err.stack || err)));
	return page;
}

/* The whole page into @file (its folder made). */
async function screenshot(page, file) {
	fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
	await page.screenshot({ path: file, fullPage: true });
}

module.exports = { POLL_MS, usageOf, parseArgs, seconds, openBrowser, launch, newPage, screenshot };
