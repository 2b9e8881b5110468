/*
 * ambitctl dashboard: the panels of Grafana's dashboards (grafana.js lays them out and asks their
 * queries): timeseries, stat, gauge, table and text, each drawn as Grafana draws it, and
 * Grafana's value formats (units). A draw function fills a panel's body and says what it shows
 * in the panel's data-state (data, nodata, text) and data-detail (series drawn, the values shown,
 * rows); its ctx is grafana.js's: query(panel, iv, instant, box) the answers of the panel's
 * targets, range() the time range, text(s) a string with the variables' values, charts the
 * Chart.js instances to destroy on the next draw.
 */
'use strict';

window.ambitGrafanaPanels = (function () {
	const el = window.ambitDom.el;

	/*
	 * Chart.js draws legends and ticks on its canvas in its own font stack: the page's instead,
	 * whose first font draws the 🔐 of Istio's legends where no emoji font is (app.css).
	 */
	if (window.Chart)
		Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;

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

	function legendOf(target, metric) {
		const fmt = target.legendFormat;
		if (fmt && fmt !== '__auto')
			return fmt.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_, k) => (metric[k] !== undefined ? metric[k] : ''));
		const keys = Object.keys(metric).filter((k) => k !== '__name__');
		if (!keys.length)
			return metric.__name__ || target.expr;
		return (metric.__name__ || '') + '{' + keys.map((k) => k + '="' + metric[k] + '"').join(', ') + '}';
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

	async function drawTimeseries(panel, body, box, iv, ctx) {
		const answers = await ctx.query(panel, iv, false, box);
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
		const { from, to } = ctx.range();
		const opts = chartOptions(panel, stacked);
		opts.scales.x.min = from;
		opts.scales.x.max = to;
		ctx.charts.push(new Chart(canvas, { type: 'line', data: { datasets }, options: opts }));
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
	async function reducedValues(panel, iv, box, ctx) {
		const answers = await ctx.query(panel, iv, false, box);
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

	async function drawStat(panel, body, box, iv, ctx) {
		const values = await reducedValues(panel, iv, box, ctx);
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
				ctx.charts.push(new Chart(canvas, {
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

	async function drawGauge(panel, body, box, iv, ctx) {
		const values = await reducedValues(panel, iv, box, ctx);
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

	async function drawTable(panel, body, box, iv, ctx) {
		const answers = await ctx.query(panel, iv, true, box);
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
		'th', 'td', 'small', 'sup', 'sub', 'center', 'del', 's', 'kbd', 'dl', 'dt', 'dd']);

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

	/*
	 * The markdown of Grafana's text panels as Grafana renders it (marked, GitHub's flavour: tables,
	 * strikethrough, autolinks), as HTML for sanitize: raw HTML in it is kept to the same safe
	 * markup as an HTML panel's. null when the library did not load.
	 */
	function markdown(text) {
		if (!window.marked || typeof window.marked.parse !== 'function')
			return null;
		return window.marked.parse(String(text), { gfm: true, breaks: false, async: false });
	}

	function drawText(panel, body, box, iv, ctx) {
		const o = panel.options || {};
		const content = ctx.text(o.content !== undefined ? o.content : panel.content || '');
		const mode = o.mode || panel.mode || 'markdown';
		const div = el('div', { class: 'gf-text' });
		const md = mode === 'markdown' ? markdown(content) : null;
		if (mode === 'html')
			div.append(sanitize(content));
		else if (md !== null)
			div.append(sanitize(md));
		else
			div.append(el('pre', { text: content }));
		body.replaceChildren(div);
		setState(box, 'text', div.textContent.trim().slice(0, 80));
	}

	const DRAW = { timeseries: drawTimeseries, graph: drawTimeseries, stat: drawStat, singlestat: drawStat,
		gauge: drawGauge, table: drawTable, text: drawText };

	return {
		el,
		setState,
		formatValue,
		/* Whether ambit draws panels of @type; draw() fills one of them. */
		drawn: (type) => Object.prototype.hasOwnProperty.call(DRAW, type),
		draw: (panel, body, box, iv, ctx) => DRAW[panel.type](panel, body, box, iv, ctx),
	};
}());
