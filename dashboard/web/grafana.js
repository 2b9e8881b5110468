/*
 * ambitctl dashboard: Grafana's dashboards (those the cluster provisions for Grafana, as Istio's
 * addon does, or the JSON files of --grafana-dashboards), listed by folder as Grafana's dashboard
 * browser lists them and drawn as Grafana draws them, from the Prometheus the rest of the page
 * reads (through /api/prom/*, which passes on only the calls Grafana's Prometheus data source
 * makes). Only what those dashboards use: the 24-column grid, rows, template variables
 * (datasource, custom, query with query_result() and label_values()), the time picker and
 * refresh; timeseries, stat, gauge, table and text panels (grafana_panels.js draws them). Any
 * other panel type says so in its place.
 *
 * app.js routes #/dashboards here (window.ambitGrafana.enter/leave). Test hooks (read by
 * tests/integration/bin/grafana_probe.js):
 *   window.grafanaList     the list as the API gave it, once loaded (rows with an error are
 *                          what is not a dashboard)
 *   .gf-folder             data-folder: a folder of the list, its dashboards' rows (data-file,
 *                          data-ref) below
 *   window.grafanaLoaded   incremented each time every panel of the shown dashboard has settled
 *   .gf-panel              data-title, data-type and data-state: loading | data | nodata | error |
 *                          unsupported | text; data-detail: series drawn, the value shown or rows
 */
'use strict';

window.ambitGrafana = (function () {
	const GRID_ROW = 30; /* Grafana's GRID_CELL_HEIGHT, px */
	const SCRAPE_S = 15; /* the data source's scrape interval, Grafana's default */
	const RANGES = ['5m', '15m', '30m', '1h', '3h', '6h', '12h', '24h'];
	const REFRESHES = ['', '5s', '10s', '15s', '30s', '1m', '5m'];

	const st = {
		list: null,
		key: null,       /* the dashboard shown: its file */
		dash: null,
		vars: {},        /* name -> {def, options: [{text, value}], current: [values]} */
		from: 'now-30m',
		to: 'now',
		refresh: '',
		timer: null,
		charts: [],
		expanded: {},    /* row id -> true/false, the user's choice over the file's */
		generation: 0,   /* a reload started since makes an older one's answers stale */
	};
	window.grafanaLoaded = 0;

	const P = window.ambitGrafanaPanels;
	const el = P.el;
	const setState = P.setState;

	function $(id) { return document.getElementById(id); }

	async function getJSON(url) {
		const r = await fetch(url);
		let body = null;
		try {
			body = await r.json();
		} catch (e) {
			throw new Error(url + ': HTTP ' + r.status);
		}
		if (!r.ok || (body && body.status === 'error'))
			throw new Error((body && body.error) || ('HTTP ' + r.status));
		return body;
	}

	/* ---- time ---- */

	const UNIT_S = { s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };

	function durationS(text) {
		let total = 0, m;
		const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/g;
		while ((m = re.exec(String(text))))
			total += m[2] === 'ms' ? Number(m[1]) / 1000 : Number(m[1]) * UNIT_S[m[2]];
		return total;
	}

	/* Grafana's relative times (now, now-15m); an absolute one in ms since the epoch. */
	function timeOf(text, now) {
		if (/^\d+$/.test(String(text)))
			return Number(text) / 1000;
		const m = /^now(?:-(.+))?$/.exec(String(text));
		return m ? now - (m[1] ? durationS(m[1]) : 0) : now;
	}

	function rangeOf() {
		const now = Date.now() / 1000;
		const from = timeOf(st.from, now), to = timeOf(st.to, now);
		return { from, to: Math.max(to, from + 1) };
	}

	/* Grafana's rounding of a computed interval to one a user would write (kbn.roundInterval). */
	function roundInterval(s) {
		const steps = [[0.015, 0.01], [0.035, 0.02], [0.075, 0.05], [0.15, 0.1], [0.35, 0.2],
			[0.75, 0.5], [1.5, 1], [3.5, 2], [7.5, 5], [12.5, 10], [17.5, 15], [25, 20], [45, 30],
			[90, 60], [210, 120], [450, 300], [750, 600], [1050, 900], [1500, 1200],
			[2700, 1800], [5400, 3600], [9000, 7200], [16200, 10800], [32400, 21600],
			[86400, 43200], [604800, 86400]];
		for (const [below, to] of steps)
			if (s < below)
				return to;
		return 604800;
	}

	function fmtInterval(s) {
		if (s < 1)
			return Math.round(s * 1000) + 'ms';
		for (const [u, n] of [['d', 86400], ['h', 3600], ['m', 60]])
			if (s >= n && s % n === 0)
				return (s / n) + u;
		return s + 's';
	}

	/*
	 * $__interval as Grafana computes it for a panel: the range over its data points (its width
	 * in px, or maxDataPoints), rounded, never under the panel's min interval nor the scrape;
	 * $__rate_interval: max($__interval + scrape, 4 × scrape).
	 */
	function intervals(panel, widthPx) {
		const { from, to } = rangeOf();
		const points = panel.maxDataPoints || Math.max(100, Math.round(widthPx || 800));
		const min = panel.interval ? durationS(panel.interval) : SCRAPE_S;
		const interval = Math.max(roundInterval((to - from) / points), min || SCRAPE_S);
		return {
			interval,
			rate: Math.max(interval + SCRAPE_S, 4 * SCRAPE_S),
			range: Math.round(to - from),
		};
	}

	/* ---- template variables ---- */

	/* As Grafana's Prometheus data source escapes a value inside a regex matcher's string. */
	function regexEscape(v) {
		return String(v).replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&');
	}

	function isAll(v) {
		return v.current.length === 1 && v.current[0] === '$__all';
	}

	/* A variable's text in a query, as Grafana's Prometheus data source interpolates it. */
	function varValue(v) {
		const def = v.def;
		if (def.type === 'datasource')
			return 'prometheus';
		let values = v.current;
		if (isAll(v)) {
			if (def.allValue)
				return def.allValue;
			values = v.options.filter((o) => o.value !== '$__all').map((o) => o.value);
		}
		if (!def.multi && !def.includeAll)
			return String(values[0] === undefined ? '' : values[0]).replace(/\\/g, '\\\\').replace(/'/g, "\\'");
		const esc = values.map(regexEscape);
		return esc.length === 1 ? esc[0] : '(' + esc.join('|') + ')';
	}

	/* $name, ${name}, [[name]] and the built-ins ($__interval, $__rate_interval, $__range). */
	function interpolate(text, iv) {
		const names = Object.keys(st.vars).sort((a, b) => b.length - a.length);
		let out = String(text);
		if (iv.range === undefined) {
			/* A variable's query: the dashboard's range, the intervals of its width. */
			const { from, to } = rangeOf();
			iv = { range: Math.round(to - from), interval: SCRAPE_S, rate: 4 * SCRAPE_S };
		}
		const builtins = {
			__rate_interval: fmtInterval(iv.rate),
			__interval_ms: String(Math.round(iv.interval * 1000)),
			__interval: fmtInterval(iv.interval),
			__range_s: String(iv.range),
			__range_ms: String(iv.range * 1000),
			__range: iv.range + 's',
		};
		const all = Object.keys(builtins).concat(names);
		for (const name of all) {
			const value = name in builtins ? builtins[name] : varValue(st.vars[name]);
			out = out.split('${' + name + '}').join(value).split('[[' + name + ']]').join(value);
			out = out.replace(new RegExp('\\$' + name.replace(/[^\w]/g, '') + '(?![\\w])', 'g'), () => value);
		}
		return out;
	}

	/* A variable's text for a title or text panel: the values joined, "All" for all. */
	function interpolateText(text) {
		const names = Object.keys(st.vars).sort((a, b) => b.length - a.length);
		let out = String(text);
		for (const name of names) {
			const v = st.vars[name];
			const value = v.def.type === 'datasource' ? 'Prometheus'
				: isAll(v) ? 'All' : v.current.join(' + ');
			out = out.split('${' + name + '}').join(value)
				.replace(new RegExp('\\$' + name + '(?![\\w])', 'g'), () => value);
		}
		return out;
	}

	/* A series as query_result() shows it to a variable's regex: name{a="b", c="d"} value ts. */
	function seriesText(s) {
		const m = s.metric || {};
		const labels = Object.keys(m).filter((k) => k !== '__name__')
			.map((k) => k + '="' + m[k] + '"').join(', ');
		const v = s.value || [];
		return (m.__name__ || '') + '{' + labels + '} ' + v[1] + ' ' + Math.round((v[0] || 0) * 1000);
	}

	async function variableOptions(def) {
		if (def.type === 'datasource')
			return [{ text: 'Prometheus', value: 'prometheus' }];
		if (def.type === 'custom') {
			return String(def.query || '').split(/(?<!\\),/).map((s) => s.trim().replace(/\\,/g, ','))
				.filter((s) => s).map((s) => {
					const kv = /^(.*?) : (.*)$/.exec(s);
					return kv ? { text: kv[1], value: kv[2] } : { text: s, value: s };
				});
		}
		if (def.type !== 'query')
			throw new Error('variable type ' + def.type + ' is not drawn by ambit');
		const q = interpolate(typeof def.query === 'string' ? def.query : (def.query || {}).query || '', {});
		const { from, to } = rangeOf();
		let texts = [];
		let m;
		if ((m = /^\s*query_result\(([\s\S]*)\)\s*$/.exec(q))) {
			const body = await getJSON('api/prom/query?' + new URLSearchParams({ query: m[1], time: String(to) }));
			texts = (body.data.result || []).map(seriesText);
		} else if ((m = /^\s*label_values\(\s*([a-zA-Z_][\w]*)\s*\)\s*$/.exec(q))) {
			const body = await getJSON('api/prom/label/' + m[1] + '/values?' +
				new URLSearchParams({ start: String(Math.floor(from)), end: String(Math.ceil(to)) }));
			texts = body.data || [];
		} else if ((m = /^\s*label_values\(([\s\S]+),\s*([a-zA-Z_][\w]*)\s*\)\s*$/.exec(q))) {
			const body = await getJSON('api/prom/series?' + new URLSearchParams({
				'match[]': m[1], start: String(Math.floor(from)), end: String(Math.ceil(to)) }));
			texts = (body.data || []).map((s) => s[m[2]]).filter((x) => x !== undefined);
		} else if ((m = /^\s*metrics\(([\s\S]*)\)\s*$/.exec(q))) {
			const body = await getJSON('api/prom/label/__name__/values');
			const rx = new RegExp(m[1]);
			texts = (body.data || []).filter((n) => rx.test(n));
		} else {
			throw new Error('variable ' + def.name + ': query form not drawn by ambit: ' + q);
		}
		const src = (def.regex || '').trim();
		const rm = /^\/(.*)\/([gimsuy]*)$/s.exec(src);
		const rx = rm ? new RegExp(rm[1], rm[2].replace('g', '')) : src ? new RegExp(src) : null;
		const seen = new Set(), out = [];
		for (const t of texts) {
			let value = t;
			if (rx) {
				const mm = rx.exec(t);
				if (!mm)
					continue;
				value = mm.groups && mm.groups.value !== undefined ? mm.groups.value
					: mm.length > 1 ? mm[1] : mm[0];
			}
			if (value === undefined || seen.has(value))
				continue;
			seen.add(value);
			out.push({ text: value, value });
		}
		if (def.sort === 1 || def.sort === 2) {
			out.sort((a, b) => a.text.localeCompare(b.text));
			if (def.sort === 2)
				out.reverse();
		} else if (def.sort === 3 || def.sort === 4) {
			out.sort((a, b) => Number(a.text) - Number(b.text));
			if (def.sort === 4)
				out.reverse();
		}
		return out;
	}

	/* The value a variable keeps: the URL's, else the one chosen before, else the file's current. */
	function chooseCurrent(def, options, wanted) {
		const all = def.includeAll ? [{ text: 'All', value: '$__all' }] : [];
		const opts = all.concat(options);
		const valid = (wanted || []).filter((w) => opts.some((o) => o.value === w));
		let cur = valid.length ? (def.multi ? valid : [valid[0]]) : null;
		if (!cur) {
			const c = def.current && def.current.value;
			const cv = (Array.isArray(c) ? c : c !== undefined ? [c] : []).filter((w) => opts.some((o) => o.value === w));
			cur = cv.length ? (def.multi ? cv : [cv[0]]) : opts.length ? [opts[0].value] : [];
		}
		return { options: opts, current: cur };
	}

	/* Each variable in order, so that one may name the ones before it. */
	async function loadVariables(params, from) {
		const list = ((st.dash.templating || {}).list || []);
		const started = from ? list.findIndex((d) => d.name === from) + 1 : 0;
		for (let i = started; i < list.length; i++) {
			const def = list[i];
			const wanted = params ? params.getAll('var-' + def.name) : (st.vars[def.name] || {}).current;
			let options = [], error = null;
			try {
				options = await variableOptions(def);
			} catch (e) {
				error = e.message;
			}
			st.vars[def.name] = Object.assign({ def, error }, chooseCurrent(def, options, wanted));
		}
	}

	/* Each visible target's answer: {target, result} (range or instant as the target asks). */
	async function runTargets(panel, iv, instantAll, box) {
		const { from, to } = rangeOf();
		box.gfQueries = [];
		const targets = (panel.targets || []).filter((t) => !t.hide && t.expr && String(t.expr).trim());
		return Promise.all(targets.map(async (t) => {
			const expr = interpolate(t.expr, iv);
			box.gfQueries.push({ expr, instant: !!(instantAll || t.instant || t.format === 'table'), from, to });
			if (instantAll || t.instant || t.format === 'table') {
				const body = await getJSON('api/prom/query?' + new URLSearchParams({ query: expr, time: String(to) }));
				return { target: t, instant: true, result: body.data.result || [] };
			}
			const step = Math.max(iv.interval, Math.ceil((to - from) / 11000));
			const body = await getJSON('api/prom/query_range?' + new URLSearchParams({
				query: expr,
				start: String(Math.floor((from) / step) * step),
				end: String(Math.ceil(to / step) * step),
				step: String(step),
			}));
			return { target: t, instant: false, result: body.data.result || [] };
		}));
	}

	async function drawPanel(panel, box, body, generation) {
		if (!P.drawn(panel.type)) {
			body.replaceChildren(el('div', { class: 'gf-unsupported', text: 'panel type ' + panel.type + ' is not drawn by ambit' }));
			setState(box, 'unsupported', panel.type);
			return;
		}
		setState(box, 'loading');
		try {
			const iv = intervals(panel, box.clientWidth);
			const ctx = { query: runTargets, range: rangeOf, text: interpolateText, charts: st.charts };
			if (generation === st.generation)
				await P.draw(panel, body, box, iv, ctx);
		} catch (e) {
			if (generation !== st.generation)
				return;
			body.replaceChildren(el('div', { class: 'gf-error', title: e.message, text: '⚠ ' + e.message }));
			setState(box, 'error', e.message);
		}
	}

	/* ---- the dashboard ---- */

	/* The panels in sections: those before the first row, then each row and its panels. */
	function sections(panels) {
		const sorted = panels.slice().sort((a, b) => ((a.gridPos || {}).y - (b.gridPos || {}).y) || ((a.gridPos || {}).x - (b.gridPos || {}).x));
		const out = [{ row: null, panels: [] }];
		for (const p of sorted) {
			if (p.type === 'row')
				out.push({ row: p, panels: (p.panels || []).slice() });
			else
				out[out.length - 1].panels.push(p);
		}
		return out.filter((s) => s.row || s.panels.length);
	}

	/*
	 * A section's panels placed from grid row @y0 down, each as high as the panels above it let
	 * it float (Grafana's grid compacts vertically): [panel, row] pairs.
	 */
	function compact(panels, y0) {
		const placed = [];
		const out = [];
		for (const p of panels) {
			const g = p.gridPos || {};
			const x = g.x || 0, w = Math.min(24, g.w || 12), h = g.h || 8;
			let py = y0;
			for (const q of placed)
				if (q.x < x + w && x < q.x + q.w)
					py = Math.max(py, q.y + q.h);
			placed.push({ x, w, y: py, h });
			out.push([p, py]);
		}
		return out;
	}

	function rowOpen(row) {
		return row.id in st.expanded ? st.expanded[row.id] : !row.collapsed;
	}

	function destroyCharts() {
		for (const c of st.charts)
			c.destroy();
		st.charts = [];
	}

	/*
	 * Lays the panels out on Grafana's grid (24 columns, rows of 30 px) and draws them. A section
	 * keeps its panels' places relative to its row; a closed row's panels take no room, as in
	 * Grafana, and the rows below it move up.
	 */
	async function drawDashboard() {
		const generation = ++st.generation;
		destroyCharts();
		const grid = $('gf-grid');
		grid.replaceChildren();
		let y = 0;
		const jobs = [];
		for (const s of sections(st.dash.panels || [])) {
			if (s.row) {
				const open = rowOpen(s.row);
				const head = el('div', { class: 'gf-row' + (open ? '' : ' collapsed'), role: 'button', tabindex: '0',
					dataset: { title: interpolateText(s.row.title || ''), type: 'row', state: open ? 'open' : 'collapsed' },
					onclick: () => {
						st.expanded[s.row.id] = !open;
						drawDashboard();
					} },
				el('span', { class: 'gf-chevron', text: open ? '▾' : '▸' }),
				el('span', { text: interpolateText(s.row.title || '') }),
				open ? null : el('span', { class: 'gf-row-count', text: '(' + s.panels.length + ' panels)' }));
				head.style.gridColumn = '1 / span 24';
				head.style.gridRow = (y + 1) + ' / span 1';
				grid.append(head);
				y += 1;
				if (!open)
					continue;
			}
			if (!s.panels.length)
				continue;
			let bottom = y;
			for (const [p, py] of compact(s.panels, y)) {
				const g = p.gridPos || { x: 0, y: 0, w: 12, h: 8 };
				const body = el('div', { class: 'gf-body' });
				const title = interpolateText(p.title || '');
				const box = el('div', { class: 'gf-panel' + (p.transparent ? ' transparent' : ''),
					dataset: { title, type: p.type, id: p.id } },
				title ? el('div', { class: 'gf-title', title: p.description || '', text: title }) : null,
				body);
				box.style.gridColumn = ((g.x || 0) + 1) + ' / span ' + Math.min(24, g.w || 12);
				box.style.gridRow = (py + 1) + ' / span ' + (g.h || 8);
				grid.append(box);
				bottom = Math.max(bottom, py + (g.h || 8));
				jobs.push([p, box, body]);
			}
			y = bottom;
		}
		grid.style.gridTemplateRows = 'repeat(' + Math.max(1, y) + ', ' + GRID_ROW + 'px)';
		await Promise.all(jobs.map(([p, box, body]) => drawPanel(p, box, body, generation)));
		if (generation === st.generation) {
			$('gf-updated').textContent = 'Updated ' + new Date().toLocaleTimeString();
			window.grafanaLoaded++;
		}
	}

	function drawVariables() {
		const bar = $('gf-vars');
		bar.replaceChildren();
		for (const def of ((st.dash.templating || {}).list || [])) {
			const v = st.vars[def.name];
			if (!v || def.hide === 2)
				continue;
			const label = def.label || def.name;
			if (v.error) {
				bar.append(el('span', { class: 'gf-var error', title: v.error }, label + ': ⚠ ' + v.error));
				continue;
			}
			const apply = async (chosen) => {
				/* All with others chosen means the others, as Grafana's picker does. */
				if (chosen.length > 1 && chosen.includes('$__all'))
					chosen = chosen.filter((c) => c !== '$__all');
				v.current = chosen.length ? chosen : v.options.length ? [v.options[0].value] : [];
				await loadVariables(null, def.name);
				saveHash();
				drawVariables();
				drawDashboard();
			};
			let input;
			if (def.multi) {
				/* Grafana's multi-value picker: the choice in one line, a list of ticks below. */
				const text = v.options.filter((o) => v.current.includes(o.value)).map((o) => o.text).join(' + ');
				const menu = el('div', { class: 'gf-menu' });
				input = el('details', { class: 'gf-multi', 'data-var': def.name, 'data-values': JSON.stringify(v.current) },
					el('summary', { text: text || 'None' }), menu);
				for (const o of v.options) {
					const box = el('input', { type: 'checkbox', value: o.value });
					box.checked = v.current.includes(o.value);
					box.addEventListener('change', () => {
						let chosen = Array.from(menu.querySelectorAll('input:checked')).map((b) => b.value);
						if (box.checked && o.value === '$__all')
							chosen = ['$__all'];
						apply(chosen);
					});
					menu.append(el('label', null, box, o.text));
				}
			} else {
				input = el('select', { 'data-var': def.name, 'data-values': JSON.stringify(v.current) });
				for (const o of v.options)
					input.append(el('option', { value: o.value, text: o.text }));
				input.value = v.current[0];
				input.addEventListener('change', () => apply([input.value]));
			}
			bar.append(el('label', { class: 'gf-var' + (def.hide === 1 ? ' nolabel' : '') }, def.hide === 1 ? null : label, input));
		}
	}

	function saveHash() {
		const q = new URLSearchParams();
		q.set('d', st.key);
		q.set('from', st.from);
		q.set('to', st.to);
		if (st.refresh)
			q.set('refresh', st.refresh);
		for (const [name, v] of Object.entries(st.vars))
			if (v.def.type !== 'datasource')
				for (const c of v.current)
					q.append('var-' + name, c);
		history.replaceState(null, '', '#/dashboards?' + q.toString());
	}

	function setTimer() {
		clearInterval(st.timer);
		st.timer = null;
		const s = durationS(st.refresh);
		if (s > 0)
			st.timer = setInterval(() => {
				if (!document.hidden)
					drawDashboard();
			}, Math.max(5, s) * 1000);
	}

	function toolbar() {
		const range = $('gf-range');
		range.replaceChildren();
		const choices = RANGES.map((r) => 'now-' + r);
		if (!choices.includes(st.from))
			choices.unshift(st.from);
		for (const c of choices)
			range.append(el('option', { value: c, text: c.startsWith('now-') ? 'Last ' + c.slice(4) : c }));
		range.value = st.from;
		const refresh = $('gf-refresh');
		refresh.replaceChildren();
		const rs = REFRESHES.slice();
		if (!rs.includes(st.refresh))
			rs.push(st.refresh);
		for (const r of rs)
			refresh.append(el('option', { value: r, text: r || 'Off' }));
		refresh.value = st.refresh;
	}

	async function openDashboard(key, params) {
		const alert = $('gf-alert');
		alert.hidden = true;
		$('gf-list').hidden = true;
		$('gf-dash').hidden = false;
		if (st.key !== key || !st.dash) {
			st.dash = null;
			st.vars = {};
			st.expanded = {};
			$('gf-grid').replaceChildren();
			try {
				const doc = await getJSON('api/grafana/dashboards/' + encodeURIComponent(key));
				st.dash = doc.dashboard && doc.dashboard.panels ? doc.dashboard : doc;
				st.key = key;
			} catch (e) {
				alert.textContent = 'Dashboard ' + key + ': ' + e.message;
				alert.hidden = false;
				return;
			}
		}
		const time = st.dash.time || {};
		st.from = params.get('from') || time.from || 'now-30m';
		st.to = params.get('to') || time.to || 'now';
		st.refresh = params.has('refresh') ? params.get('refresh') : (st.dash.refresh || '');
		$('gf-title').textContent = st.dash.title || key;
		toolbar();
		await loadVariables(params, null);
		saveHash();
		drawVariables();
		setTimer();
		await drawDashboard();
	}

	/* Where a row came from: its file, or its ConfigMap and key. */
	function sourceOf(r) {
		return r.configmap ? r.configmap + ' · ' + r.key : r.file;
	}

	/* Folders as Grafana's dashboard browser lists them: by name, General (the root) last. */
	function byFolder(rows) {
		const groups = new Map();
		for (const r of rows) {
			const f = r.folder || 'General';
			if (!groups.has(f))
				groups.set(f, []);
			groups.get(f).push(r);
		}
		const names = [...groups.keys()].sort((a, b) =>
			(a === 'General') - (b === 'General') || a.localeCompare(b));
		const title = (r) => r.title || r.file;
		return names.map((name) => [name, groups.get(name).sort((a, b) => title(a).localeCompare(title(b)))]);
	}

	/* What to do when there is nothing to draw: where the dashboards come from. */
	async function howTo() {
		let dir = false;
		try {
			dir = (await getJSON('api/health')).grafanaSource === 'directory';
		} catch (e) {
			/* said as for the cluster's */
		}
		if (dir)
			return el('div', { class: 'gf-howto' },
				el('p', { text: 'The directory given by --grafana-dashboards holds no Grafana dashboards (*.json files of dashboards, with their panels).' }));
		return el('div', { class: 'gf-howto' },
			el('p', { text: "The cluster provisions no Grafana dashboards. Istio's come with its Grafana addon, whose ConfigMaps hold them; apply it from an Istio release:" }),
			el('pre', { text: 'ambitctl apply -f samples/addons/grafana.yaml' }),
			el('p', { text: "They are listed here as soon as they are applied, in Grafana's folders; so are the ConfigMaps labelled grafana_dashboard (Grafana's sidecar's). Or start the dashboard with a directory of dashboard files:" }),
			el('pre', { text: 'ambitctl dashboard grafana --grafana-dashboards DIR' }),
			el('p', { text: "Istio's dashboards (mesh, service, workload, ztunnel, performance) are in its release, under manifests/addons/dashboards." }));
	}

	async function showList() {
		clearInterval(st.timer);
		st.timer = null;
		destroyCharts();
		$('gf-dash').hidden = true;
		$('gf-list').hidden = false;
		const list = $('gf-list');
		list.replaceChildren(el('span', { class: 'muted', text: 'Loading…' }));
		let rows;
		try {
			rows = await getJSON('api/grafana/dashboards');
		} catch (e) {
			list.replaceChildren(el('div', { class: 'alert', text: 'Dashboards: ' + e.message }));
			return;
		}
		const boards = rows.filter((r) => !r.error), skipped = rows.filter((r) => r.error);
		const parts = byFolder(boards).map(([folder, rs]) => el('section', { class: 'gf-folder', dataset: { folder } },
			el('h3', { class: 'gf-folder-name', text: folder }),
			el('table', { class: 'grid' },
				el('thead', null, el('tr', null, el('th', { text: 'Dashboard' }), el('th', { text: 'Tags' }), el('th', { text: 'Source' }))),
				el('tbody', null, rs.map((r) => el('tr', { dataset: { file: r.file, ref: r.ref || r.file } },
					el('td', null, el('a', { href: '#/dashboards?d=' + encodeURIComponent(r.ref || r.file), text: r.title || r.file })),
					el('td', null, (r.tags || []).map((t) => el('span', { class: 'gf-tag', text: t }))),
					el('td', { class: 'mono', text: sourceOf(r) })))))));
		if (!boards.length)
			parts.push(await howTo());
		if (skipped.length)
			parts.push(el('section', { class: 'gf-skipped' },
				el('h3', { class: 'gf-folder-name', text: 'Not drawn: not Grafana dashboards' }),
				el('table', { class: 'grid' },
					el('thead', null, el('tr', null, el('th', { text: 'Source' }), el('th', { text: 'Why' }))),
					el('tbody', null, skipped.map((r) => el('tr', { dataset: { file: r.file, ref: r.ref || r.file } },
						el('td', { class: 'mono', text: sourceOf(r) }),
						el('td', null, el('span', { class: 'err', text: '⚠ ' + r.error }))))))));
		list.replaceChildren(...parts);
		window.grafanaList = rows;
	}

	function init() {
		$('gf-range').addEventListener('change', async () => {
			st.from = $('gf-range').value;
			st.to = 'now';
			/* Variables refreshed "on time range change" (2) ask again, as Grafana's do. */
			if (((st.dash.templating || {}).list || []).some((d) => d.refresh === 2)) {
				await loadVariables(null, null);
				drawVariables();
			}
			saveHash();
			drawDashboard();
		});
		$('gf-refresh').addEventListener('change', () => {
			st.refresh = $('gf-refresh').value;
			saveHash();
			setTimer();
		});
		$('gf-refresh-now').addEventListener('click', () => drawDashboard());
	}

	let ready = false;

	return {
		enter(params) {
			if (!ready) {
				init();
				ready = true;
			}
			const key = params.get('d');
			if (key)
				openDashboard(key, params);
			else
				showList();
		},
		leave() {
			clearInterval(st.timer);
			st.timer = null;
			st.generation++;
			destroyCharts();
		},
	};
}());
