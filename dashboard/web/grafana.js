/*
 * ambitctl dashboard: Grafana's dashboards (the JSON files of --grafana-dashboards, Istio's five),
 * drawn as Grafana draws them, from the Prometheus the rest of the page reads (through
 * /api/prom/*, which passes on only the calls Grafana's Prometheus data source makes). Only what
 * those dashboards use: the 24-column grid, rows, template variables (datasource, custom, query
 * with query_result() and label_values()), the time picker and refresh; timeseries, stat, gauge,
 * table and text panels. Any other panel type says so in its place.
 *
 * app.js routes #/dashboards here (window.ambitGrafana.enter/leave). Test hooks (read by
 * tests/integration/bin/grafana_probe.js):
 *   window.grafanaList     the list as the API gave it, once loaded
 *   window.grafanaLoaded   incremented each time every panel of the shown dashboard has settled
 *   .gf-panel              data-title, data-type and data-state: loading | data | nodata | error |
 *                          unsupported | text; data-detail: series drawn, the value shown or rows
 */
'use strict';

window.ambitGrafana = (function () {
	/* Grafana's classic palette, in its order. */
	const PALETTE = ['#7EB26D', '#EAB839', '#6ED0E0', '#EF843C', '#E24D42', '#1F78C1', '#BA43A9',
		'#705DA0', '#508642', '#CCA300', '#447EBC', '#C15C17', '#890F02', '#0A437C', '#6D1F62',
		'#584477', '#B7DBAB', '#F4D598', '#70DBED', '#F9BA8F', '#F29191', '#82B5D8', '#E5A8E2'];
	/* Grafana's named colours (the dashboards' thresholds use them). */
	const NAMED = {
		green: '#73BF69', red: '#F2495C', yellow: '#FADE2A', orange: '#FF9830', blue: '#5794F2',
		purple: '#B877D9', 'dark-green': '#37872D', 'dark-red': '#C4162A', 'dark-yellow': '#E0B400',
		'semi-dark-green': '#56A64B', 'light-green': '#96D98D', text: '#CCCCDC', transparent: 'transparent',
	};
	const GRID_ROW = 30; /* Grafana's GRID_CELL_HEIGHT, px */
	const GRID_GAP = 8;  /* GRID_CELL_VMARGIN */
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

	function $(id) { return document.getElementById(id); }

	function el(tag, attrs, ...children) {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (v === null || v === undefined)
				continue;
			if (k === 'class')
				e.className = v;
			else if (k === 'text')
				e.textContent = v;
			else if (k === 'dataset')
				Object.assign(e.dataset, v);
			else if (k.startsWith('on'))
				e.addEventListener(k.slice(2), v);
			else
				e.setAttribute(k, v);
		}
		for (const c of children.flat(Infinity))
			if (c !== null && c !== undefined && c !== false)
				e.append(c instanceof Node ? c : String(c));
		return e;
	}

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

	/* ---- units, as Grafana's value formats write them ---- */

	function fixed(v, decimals) {
		if (!isFinite(v))
			return String(v);
		if (decimals !== undefined && decimals !== null)
			return v.toFixed(decimals);
		const a = Math.abs(v);
		const d = a === 0 ? 0 : a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : Math.min(4, 1 - Math.floor(Math.log10(a)) + 1);
		return String(Number(v.toFixed(d)));
	}

	function scaled(v, decimals, base, suffixes, unit) {
		let i = 0;
		while (Math.abs(v) >= base && i < suffixes.length - 1) {
			v /= base;
			i++;
		}
		return fixed(v, decimals) + suffixes[i] + unit;
	}

	function short(v, decimals, unit) {
		return scaled(v, decimals, 1000, ['', ' K', ' Mil', ' Bil', ' Tri'], unit || '');
	}

	function duration(v, decimals, inMs) {
		const ms = inMs ? v : v * 1000;
		const a = Math.abs(ms);
		/* Grafana goes below a millisecond only for a value given in seconds. */
		if (!inMs && a < 1 && a > 0)
			return fixed(ms * 1000, decimals) + ' µs';
		if (a < 1000)
			return fixed(ms, decimals) + ' ms';
		if (a < 60000)
			return fixed(ms / 1000, decimals) + ' s';
		if (a < 3600000)
			return fixed(ms / 60000, decimals) + ' min';
		return fixed(ms / 3600000, decimals) + ' hour';
	}

	function formatValue(v, unit, decimals) {
		if (v === null || v === undefined || Number.isNaN(v))
			return 'No data';
		const SI = [' ', ' k', ' M', ' G', ' T', ' P'], IEC = [' ', ' Ki', ' Mi', ' Gi', ' Ti', ' Pi'];
		switch (unit || 'none') {
		case 'none': return fixed(v, decimals);
		case 'short': return short(v, decimals);
		case 'percent': return fixed(v, decimals) + '%';
		case 'percentunit': return fixed(v * 100, decimals) + '%';
		case 'reqps': return short(v, decimals, ' req/s');
		case 'ops': return short(v, decimals, ' ops/s');
		case 'rps': return short(v, decimals, ' rd/s');
		case 'wps': return short(v, decimals, ' wr/s');
		case 'iops': return short(v, decimals, ' io/s');
		case 'cps': return short(v, decimals, ' c/s');
		case 'cpm': return short(v, decimals, ' c/m');
		case 'opm': return short(v, decimals, ' ops/m');
		case 'rpm': return short(v, decimals, ' rpm');
		case 's': return duration(v, decimals, false);
		case 'ms': return duration(v, decimals, true);
		case 'µs': return duration(v / 1000, decimals, true);
		case 'bytes': return scaled(v, decimals, 1024, IEC, 'B');
		case 'decbytes': return scaled(v, decimals, 1000, SI, 'B');
		case 'bits': return scaled(v, decimals, 1024, IEC, 'b');
		case 'decbits': return scaled(v, decimals, 1000, SI, 'b');
		case 'Bps': return scaled(v, decimals, 1000, SI, 'B/s');
		case 'binBps': return scaled(v, decimals, 1024, IEC, 'B/s');
		case 'bps': return scaled(v, decimals, 1000, SI, 'b/s');
		case 'binbps': return scaled(v, decimals, 1024, IEC, 'b/s');
		case 'cores': return fixed(v, decimals) + ' cores';
		default: return fixed(v, decimals) + ' ' + unit; /* Grafana shows an unknown unit as a suffix */
		}
	}

	function colorOf(c) {
		return NAMED[c] || c || PALETTE[0];
	}

	/* The colour of a value by a threshold list: the last step it reaches. */
	function thresholdColor(thresholds, v) {
		const steps = (thresholds && thresholds.steps) || [];
		let color = steps.length ? steps[0].color : null;
		for (const s of steps)
			if (s.value !== null && s.value !== undefined && v >= Number(s.value))
				color = s.color;
		return color ? colorOf(color) : null;
	}

	/* Dark text on a light background, light on a dark one, as Grafana's cells choose. */
	function readableOn(color) {
		const m = /^#([0-9a-f]{6})$/i.exec(color);
		if (!m)
			return '';
		const n = parseInt(m[1], 16);
		const lum = 0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255);
		return lum > 150 ? '#111217' : '#ffffff';
	}

	/* ---- queries ---- */

	function legendOf(target, metric) {
		const fmt = target.legendFormat;
		if (fmt && fmt !== '__auto')
			return fmt.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_, k) => (metric[k] !== undefined ? metric[k] : ''));
		const keys = Object.keys(metric).filter((k) => k !== '__name__');
		if (!keys.length)
			return metric.__name__ || target.expr;
		return (metric.__name__ || '') + '{' + keys.map((k) => k + '="' + metric[k] + '"').join(', ') + '}';
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

	/* ---- panels ---- */

	function fieldDefaults(panel) {
		return ((panel.fieldConfig || {}).defaults) || {};
	}

	function setState(box, state, detail) {
		box.dataset.state = state;
		box.dataset.detail = detail === undefined ? '' : String(detail);
	}

	function noData(body) {
		body.replaceChildren(el('div', { class: 'gf-nodata', text: 'No data' }));
	}

	function chartOptions(panel, stacked) {
		const d = fieldDefaults(panel);
		const legend = (panel.options || {}).legend || {};
		const grid = 'rgba(204, 204, 220, 0.12)', tick = '#9fa7b3';
		return {
			animation: false,
			responsive: true,
			maintainAspectRatio: false,
			interaction: { mode: 'index', intersect: false },
			elements: { point: { radius: 0 }, line: { borderWidth: ((d.custom || {}).lineWidth) || 1 } },
			scales: {
				x: {
					type: 'linear',
					grid: { color: grid },
					ticks: {
						color: tick, maxRotation: 0, autoSkipPadding: 24,
						callback: (v) => new Date(v * 1000).toTimeString().slice(0, 5),
					},
				},
				y: {
					stacked,
					min: d.min !== undefined && d.min !== null ? d.min : undefined,
					max: d.max !== undefined && d.max !== null ? d.max : undefined,
					beginAtZero: true,
					grid: { color: grid },
					ticks: { color: tick, maxTicksLimit: 6, callback: (v) => formatValue(v, d.unit, d.decimals) },
				},
			},
			plugins: {
				legend: {
					display: legend.showLegend !== false && legend.displayMode !== 'hidden',
					position: legend.placement === 'right' ? 'right' : 'bottom',
					align: 'start',
					labels: { color: '#ccccdc', boxWidth: 14, boxHeight: 2, font: { size: 11 } },
				},
				tooltip: {
					callbacks: {
						title: (items) => items.length ? new Date(items[0].parsed.x * 1000).toLocaleTimeString() : '',
						label: (c) => c.dataset.label + ': ' + formatValue(c.parsed.y, d.unit, d.decimals),
					},
				},
			},
		};
	}

	function seriesColor(panel, i) {
		const c = fieldDefaults(panel).color || {};
		return c.mode === 'fixed' ? colorOf(c.fixedColor) : PALETTE[i % PALETTE.length];
	}

	function withAlpha(color, alpha) {
		const m = /^#([0-9a-f]{6})$/i.exec(color);
		if (m) {
			const n = parseInt(m[1], 16);
			return 'rgba(' + (n >> 16) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + alpha + ')';
		}
		return color.replace(/^rgb\((.*)\)$/, 'rgba($1,' + alpha + ')');
	}

	async function drawTimeseries(panel, body, box, iv) {
		const answers = await runTargets(panel, iv, false, box);
		const custom = fieldDefaults(panel).custom || {};
		const fill = custom.fillOpacity !== undefined ? custom.fillOpacity / 100 : 0.1;
		const stacked = ((custom.stacking || {}).mode || 'none') !== 'none';
		const datasets = [];
		for (const a of answers)
			for (const s of a.result) {
				const color = seriesColor(panel, datasets.length);
				const points = a.instant ? [{ x: s.value[0], y: Number(s.value[1]) }]
					: s.values.map(([t, v]) => ({ x: t, y: Number(v) }));
				datasets.push({
					label: legendOf(a.target, s.metric || {}),
					data: points,
					borderColor: color,
					backgroundColor: withAlpha(color, fill),
					fill: fill > 0 ? (stacked ? 'stack' : 'origin') : false,
					spanGaps: false,
				});
			}
		if (!datasets.length) {
			noData(body);
			setState(box, 'nodata', 0);
			return;
		}
		const canvas = el('canvas');
		body.replaceChildren(el('div', { class: 'gf-chart' }, canvas));
		const { from, to } = rangeOf();
		const opts = chartOptions(panel, stacked);
		opts.scales.x.min = from;
		opts.scales.x.max = to;
		st.charts.push(new Chart(canvas, { type: 'line', data: { datasets }, options: opts }));
		setState(box, 'data', datasets.length);
	}

	function reduce(values, calc) {
		const vs = values.filter((v) => v !== null && !Number.isNaN(v));
		if (!vs.length)
			return null;
		switch (calc) {
		case 'mean': return vs.reduce((a, b) => a + b, 0) / vs.length;
		case 'max': return Math.max(...vs);
		case 'min': return Math.min(...vs);
		case 'sum': return vs.reduce((a, b) => a + b, 0);
		case 'first': case 'firstNotNull': return vs[0];
		case 'count': return vs.length;
		default: return vs[vs.length - 1]; /* last, lastNotNull */
		}
	}

	/* A stat's or gauge's values: one per series, reduced as options.reduceOptions says. */
	async function reducedValues(panel, iv, box) {
		const answers = await runTargets(panel, iv, false, box);
		const calc = ((((panel.options || {}).reduceOptions || {}).calcs) || ['lastNotNull'])[0];
		const out = [];
		for (const a of answers)
			for (const s of a.result) {
				const series = a.instant ? [[s.value[0], s.value[1]]] : s.values;
				const ys = series.map(([, v]) => Number(v));
				out.push({ name: legendOf(a.target, s.metric || {}), value: reduce(ys, calc), series });
			}
		return out;
	}

	function mappedText(panel, v) {
		for (const m of fieldDefaults(panel).mappings || []) {
			const o = m.options || {};
			if (m.type === 'special' && v === null && (o.match === 'null' || o.match === 'null+nan'))
				return (o.result || {}).text;
			if (m.type === 'value' && v !== null && o[String(v)])
				return o[String(v)].text;
		}
		return null;
	}

	async function drawStat(panel, body, box, iv) {
		const values = await reducedValues(panel, iv, box);
		const d = fieldDefaults(panel), o = panel.options || {};
		const shown = values.filter((x) => x.value !== null);
		if (!shown.length) {
			const special = mappedText(panel, null);
			body.replaceChildren(special ? el('div', { class: 'gf-stat' }, el('div', { class: 'gf-stat-cell' },
				el('div', { class: 'gf-stat-value', text: special })))
				: el('div', { class: 'gf-nodata', text: 'No data' }));
			setState(box, 'nodata', special || '');
			return;
		}
		const colorMode = o.colorMode || 'value';
		const wrap = el('div', { class: 'gf-stat' + (shown.length > 1 ? ' multi' : '') });
		for (const x of shown) {
			const color = (d.color || {}).mode === 'fixed' ? colorOf(d.color.fixedColor)
				: thresholdColor(d.thresholds, x.value) || colorOf('green');
			const text = mappedText(panel, x.value) || formatValue(x.value, d.unit, d.decimals);
			const cell = el('div', { class: 'gf-stat-cell' });
			if (colorMode === 'background')
				cell.style.background = color;
			if ((o.graphMode || 'area') === 'area' && x.series.length > 1) {
				const canvas = el('canvas', { class: 'gf-spark' });
				cell.append(canvas);
				st.charts.push(new Chart(canvas, {
					type: 'line',
					data: { datasets: [{ data: x.series.map(([t, v]) => ({ x: t, y: Number(v) })),
						borderColor: colorMode === 'background' ? 'rgba(255,255,255,0.6)' : color,
						backgroundColor: withAlpha(colorMode === 'background' ? '#ffffff' : color, 0.15),
						fill: 'origin', borderWidth: 1, pointRadius: 0 }] },
					options: { animation: false, responsive: true, maintainAspectRatio: false, events: [],
						plugins: { legend: { display: false }, tooltip: { enabled: false } },
						scales: { x: { type: 'linear', display: false }, y: { display: false, beginAtZero: true } } },
				}));
			}
			const value = el('div', { class: 'gf-stat-value', text });
			if (colorMode === 'value')
				value.style.color = color;
			if (shown.length > 1 && (o.textMode || 'auto') !== 'value')
				cell.append(el('div', { class: 'gf-stat-name', text: x.name }));
			cell.append(value);
			wrap.append(cell);
		}
		body.replaceChildren(wrap);
		setState(box, 'data', shown.map((x) => formatValue(x.value, d.unit, d.decimals)).join(' '));
	}

	async function drawGauge(panel, body, box, iv) {
		const values = await reducedValues(panel, iv, box);
		const d = fieldDefaults(panel);
		const shown = values.filter((x) => x.value !== null);
		if (!shown.length) {
			noData(body);
			setState(box, 'nodata', '');
			return;
		}
		const min = d.min !== undefined && d.min !== null ? d.min : 0;
		const max = d.max !== undefined && d.max !== null ? d.max : d.unit === 'percentunit' ? 1 : 100;
		const wrap = el('div', { class: 'gf-stat' + (shown.length > 1 ? ' multi' : '') });
		const NS = 'http://www.w3.org/2000/svg';
		const arc = (f) => {
			/* The gauge's 240° arc, from lower left through the top to lower right. */
			const a = (-210 + 240 * f) * Math.PI / 180;
			return [50 + 40 * Math.cos(a), 55 + 40 * Math.sin(a)];
		};
		const path = (f0, f1, color, width) => {
			const [x0, y0] = arc(f0), [x1, y1] = arc(f1);
			const p = document.createElementNS(NS, 'path');
			p.setAttribute('d', 'M' + x0 + ' ' + y0 + ' A40 40 0 ' + ((f1 - f0) * 240 > 180 ? 1 : 0) + ' 1 ' + x1 + ' ' + y1);
			p.setAttribute('stroke', color);
			p.setAttribute('stroke-width', width);
			p.setAttribute('fill', 'none');
			return p;
		};
		for (const x of shown) {
			const f = Math.min(1, Math.max(0, (x.value - min) / ((max - min) || 1)));
			const color = (d.color || {}).mode === 'fixed' ? colorOf(d.color.fixedColor)
				: thresholdColor(d.thresholds, x.value) || colorOf('green');
			const svg = document.createElementNS(NS, 'svg');
			svg.setAttribute('viewBox', '0 0 100 80');
			svg.setAttribute('class', 'gf-gauge');
			/* The threshold bands, thin, outside the value's arc, as Grafana shows them. */
			const steps = ((d.thresholds || {}).steps || []);
			steps.forEach((s, i) => {
				const lo = i === 0 ? 0 : Math.min(1, Math.max(0, (Number(s.value) - min) / ((max - min) || 1)));
				const hi = i + 1 < steps.length ? Math.min(1, Math.max(0, (Number(steps[i + 1].value) - min) / ((max - min) || 1))) : 1;
				if (hi > lo)
					svg.append(path(lo, hi, colorOf(s.color), 2));
			});
			svg.append(path(0, 0.9999, 'rgba(204,204,220,0.15)', 8));
			if (f > 0)
				svg.append(path(0, Math.min(f, 0.9999), color, 8));
			const t = document.createElementNS(NS, 'text');
			t.setAttribute('x', '50');
			t.setAttribute('y', '60');
			t.setAttribute('text-anchor', 'middle');
			t.setAttribute('fill', color);
			t.setAttribute('font-size', '14');
			t.textContent = formatValue(x.value, d.unit, d.decimals);
			svg.append(t);
			const cell = el('div', { class: 'gf-stat-cell' });
			if (shown.length > 1)
				cell.append(el('div', { class: 'gf-stat-name', text: x.name }));
			cell.append(svg);
			wrap.append(cell);
		}
		body.replaceChildren(wrap);
		setState(box, 'data', shown.map((x) => formatValue(x.value, d.unit, d.decimals)).join(' '));
	}

	/*
	 * A table: each instant query a frame of its series' labels and value (the column
	 * "Value #<refId>" when there are several, as Grafana names it), then the transformations.
	 */
	function tableFrames(panel, answers) {
		const several = answers.length > 1;
		return answers.map((a) => {
			const valueCol = several ? 'Value #' + (a.target.refId || 'A') : 'Value';
			const fields = ['Time'];
			const rows = a.result.map((s) => {
				const r = { Time: s.value ? s.value[0] : null };
				for (const [k, v] of Object.entries(s.metric || {})) {
					if (!fields.includes(k))
						fields.push(k);
					r[k] = v;
				}
				r[valueCol] = s.value ? Number(s.value[1]) : null;
				return r;
			});
			fields.push(valueCol);
			return { fields, rows };
		});
	}

	/*
	 * Grafana's "merge": one table of every frame's fields, a row of one frame joined to the row
	 * of another whose label fields common to all the frames agree (the Istio mesh dashboard's
	 * requests, by Service and workload, and latencies, by workload alone, meet on the workload).
	 */
	function merge(frames) {
		const valueField = (n) => n === 'Time' || /^Value( #|$)/.test(n);
		const fields = [];
		for (const f of frames)
			for (const n of f.fields)
				if (!fields.includes(n))
					fields.push(n);
		const withRows = frames.filter((f) => f.rows.length);
		const keys = fields.filter((n) => !valueField(n) && withRows.every((f) => f.fields.includes(n)));
		const rows = [];
		for (const f of withRows)
			for (const r of f.rows) {
				const own = Object.keys(r).filter((k) => valueField(k) && k !== 'Time');
				const same = rows.find((x) => keys.every((k) => x[k] === r[k]) &&
					own.every((k) => x[k] === undefined));
				if (same) {
					for (const [k, v] of Object.entries(r))
						if (same[k] === undefined)
							same[k] = v;
				} else {
					rows.push(Object.assign({}, r));
				}
			}
		return { fields, rows };
	}

	function organize(frame, o) {
		const exclude = o.excludeByName || {}, rename = o.renameByName || {}, index = o.indexByName || {};
		let fields = frame.fields.filter((f) => !exclude[f]);
		fields.sort((a, b) => (index[a] !== undefined ? index[a] : 1e6) - (index[b] !== undefined ? index[b] : 1e6));
		return { fields, rows: frame.rows, rename };
	}

	function fieldConfigFor(panel, name) {
		const cfg = Object.assign({}, fieldDefaults(panel));
		cfg.custom = Object.assign({}, cfg.custom || {});
		for (const o of ((panel.fieldConfig || {}).overrides || [])) {
			const m = o.matcher || {};
			const hit = (m.id === 'byName' && m.options === name) ||
				(m.id === 'byRegexp' && new RegExp(m.options).test(name));
			if (!hit)
				continue;
			for (const p of o.properties || []) {
				if (p.id.startsWith('custom.'))
					cfg.custom[p.id.slice(7)] = p.value;
				else
					cfg[p.id] = p.value;
			}
		}
		return cfg;
	}

	async function drawTable(panel, body, box, iv) {
		const answers = await runTargets(panel, iv, true, box);
		let frames = tableFrames(panel, answers);
		let frame = frames.length === 1 ? frames[0] : null, rename = {};
		for (const t of panel.transformations || []) {
			if (t.disabled)
				continue;
			if (t.id === 'merge') {
				frame = merge(frames);
			} else if (t.id === 'organize') {
				const org = organize(frame || merge(frames), t.options || {});
				frame = { fields: org.fields, rows: org.rows };
				rename = org.rename;
			}
		}
		frame = frame || merge(frames);
		if (!frame.rows.length) {
			noData(body);
			setState(box, 'nodata', 0);
			return;
		}
		const cols = frame.fields.map((n) => ({ n, cfg: fieldConfigFor(panel, n) }))
			.filter((c) => !c.cfg.custom.hidden);
		const head = el('tr', null, cols.map((c) => el('th', { text: c.cfg.displayName || rename[c.n] || c.n })));
		const rows = frame.rows.map((r) => el('tr', null, cols.map((c) => {
			const v = r[c.n];
			if (c.n === 'Time')
				return el('td', { text: v ? new Date(v * 1000).toLocaleString() : '' });
			if (typeof v !== 'number')
				return el('td', { text: v === undefined ? '' : v });
			const td = el('td', { class: 'num', text: formatValue(v, c.cfg.unit, c.cfg.decimals) });
			const cell = c.cfg.custom.cellOptions || {};
			if (cell.type === 'color-background' || c.cfg.custom.displayMode === 'color-background') {
				const bg = thresholdColor(c.cfg.thresholds, v);
				if (bg) {
					td.style.background = bg;
					td.style.color = readableOn(bg);
				}
			}
			else if (cell.type === 'color-text')
				td.style.color = thresholdColor(c.cfg.thresholds, v) || '';
			return td;
		})));
		body.replaceChildren(el('div', { class: 'gf-table' }, el('table', null, el('thead', null, head), el('tbody', null, rows))));
		setState(box, 'data', frame.rows.length);
	}

	/* ---- text panels: markdown or HTML, kept to inert markup (no script, no handlers) ---- */

	const SAFE_TAGS = new Set(['a', 'b', 'i', 'em', 'strong', 'p', 'br', 'hr', 'div', 'span', 'ul', 'ol', 'li',
		'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'code', 'pre', 'blockquote', 'table', 'thead', 'tbody', 'tr',
		'th', 'td', 'small', 'sup', 'sub', 'center']);

	/* @html's safe part, rebuilt element by element: what is not allowed is left out, its text kept. */
	function sanitize(html) {
		const doc = new DOMParser().parseFromString('<body>' + html + '</body>', 'text/html');
		const out = document.createDocumentFragment();
		const copy = (src, dst) => {
			for (const n of src.childNodes) {
				if (n.nodeType === Node.TEXT_NODE) {
					dst.append(n.textContent);
					continue;
				}
				if (n.nodeType !== Node.ELEMENT_NODE)
					continue;
				const tag = n.tagName.toLowerCase();
				if (tag === 'script' || tag === 'style' || tag === 'iframe' || tag === 'object')
					continue;
				if (!SAFE_TAGS.has(tag)) {
					copy(n, dst);
					continue;
				}
				const e = document.createElement(tag);
				const cls = n.getAttribute('class');
				if (cls)
					e.className = cls;
				const title = n.getAttribute('title');
				if (title)
					e.title = title;
				const href = tag === 'a' ? n.getAttribute('href') || '' : '';
				if (/^(https?:|#|\/)/i.test(href.trim())) {
					e.setAttribute('href', href.trim());
					e.setAttribute('rel', 'noopener noreferrer');
					e.setAttribute('target', '_blank');
				}
				copy(n, e);
				dst.append(e);
			}
		};
		copy(doc.body, out);
		return out;
	}

	/* The markdown of Grafana's text panels: headings, lists, emphasis, code, links, paragraphs. */
	function markdown(text) {
		const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
		const inline = (s) => esc(s)
			.replace(/`([^`]+)`/g, '<code>$1</code>')
			.replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
			.replace(/\*([^*]+)\*/g, '<em>$1</em>')
			.replace(/_([^_]+)_/g, '<em>$1</em>')
			.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, '<a href="$2">$1</a>');
		const out = [];
		let list = null, para = [];
		const flush = () => {
			if (para.length)
				out.push('<p>' + para.map(inline).join(' ') + '</p>');
			para = [];
			if (list)
				out.push('</' + list + '>');
			list = null;
		};
		for (const line of String(text).split('\n')) {
			let m;
			if ((m = /^(#{1,6})\s+(.*)$/.exec(line))) {
				flush();
				out.push('<h' + m[1].length + '>' + inline(m[2]) + '</h' + m[1].length + '>');
			} else if ((m = /^\s*(?:[-*+]|(\d+)\.)\s+(.*)$/.exec(line))) {
				if (para.length) {
					out.push('<p>' + para.map(inline).join(' ') + '</p>');
					para = [];
				}
				const kind = m[1] ? 'ol' : 'ul';
				if (list !== kind) {
					if (list)
						out.push('</' + list + '>');
					out.push('<' + kind + '>');
					list = kind;
				}
				out.push('<li>' + inline(m[2]) + '</li>');
			} else if (!line.trim()) {
				flush();
			} else {
				if (list) {
					out.push('</' + list + '>');
					list = null;
				}
				para.push(line.trim());
			}
		}
		flush();
		return out.join('');
	}

	function drawText(panel, body, box) {
		const o = panel.options || {};
		const content = interpolateText(o.content !== undefined ? o.content : panel.content || '');
		const mode = o.mode || panel.mode || 'markdown';
		const div = el('div', { class: 'gf-text' });
		if (mode === 'html')
			div.append(sanitize(content));
		else if (mode === 'markdown')
			div.append(sanitize(markdown(content)));
		else
			div.append(el('pre', { text: content }));
		body.replaceChildren(div);
		setState(box, 'text', div.textContent.trim().slice(0, 80));
	}

	const DRAW = { timeseries: drawTimeseries, graph: drawTimeseries, stat: drawStat, singlestat: drawStat,
		gauge: drawGauge, table: drawTable, text: drawText };

	async function drawPanel(panel, box, body, generation) {
		const draw = DRAW[panel.type];
		if (!draw) {
			body.replaceChildren(el('div', { class: 'gf-unsupported', text: 'panel type ' + panel.type + ' is not drawn by ambit' }));
			setState(box, 'unsupported', panel.type);
			return;
		}
		setState(box, 'loading');
		try {
			const iv = intervals(panel, box.clientWidth);
			if (generation === st.generation)
				await draw(panel, body, box, iv);
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
		window.grafanaList = rows;
		if (!rows.length) {
			list.replaceChildren(el('div', { class: 'gf-howto' },
				el('p', { text: 'No Grafana dashboards were given. Start the dashboard with the directory of their JSON files:' }),
				el('pre', { text: 'ambitctl dashboard --grafana-dashboards DIR' }),
				el('p', { text: "Istio's dashboards (mesh, service, workload, ztunnel, performance) are in its release, under manifests/addons/dashboards." })));
			return;
		}
		list.replaceChildren(el('table', { class: 'grid' },
			el('thead', null, el('tr', null, el('th', { text: 'Dashboard' }), el('th', { text: 'Tags' }), el('th', { text: 'File' }))),
			el('tbody', null, rows.map((r) => el('tr', { dataset: { file: r.file } },
				el('td', null, r.error ? el('span', { class: 'err', text: '⚠ ' + r.error })
					: el('a', { href: '#/dashboards?d=' + encodeURIComponent(r.file), text: r.title || r.file })),
				el('td', null, (r.tags || []).map((t) => el('span', { class: 'gf-tag', text: t }))),
				el('td', { class: 'mono', text: r.file }))))));
	}

	function init() {
		$('gf-range').addEventListener('change', () => {
			st.from = $('gf-range').value;
			st.to = 'now';
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
