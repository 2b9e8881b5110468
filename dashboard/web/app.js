/*
 * ambitctl dashboard: the browser side. No build step and no framework: cytoscape and Chart.js are
 * loaded as plain scripts from lib/, everything else is here. The JSON API may omit any field or
 * send null; every renderer must cope with that rather than throw.
 *
 * Test hooks (read by tests/integration/bin/dashboard_probe.js):
 *   window.cy            the cytoscape instance; element data keeps the API fields as sent, plus `color`
 *   window.graphLoaded   incremented each time a graph response has been rendered
 *   window.graphError    message of the last failed graph fetch, or null
 *   window.graphLayout   {name, ms} of the last layout run (tools/bench/dashboard_render.js reads it)
 *   window.tracesLoaded  incremented each time the traces view's list has been rendered
 *   window.traceShown    the trace id whose waterfall is shown (or failed to load), else null
 *   body[data-view]      the current view; #tr-table rows carry data-trace-id, the waterfall's
 *                        .wf-row rows data-span-id, data-depth, data-name and data-service
 *   [data-traces-link]   a panel's link to the Traces view, the service it names
 *   #panel[data-state]   loading | loaded | error, #panel[data-for] the element or workload shown
 */
'use strict';

(function () {
	const HEALTH_COLORS = {
		healthy: '#3E8635',
		degraded: '#F0AB00',
		failure: '#C9190B',
		none: '#B8BBBE',
		idle: '#B8BBBE',
	};
	const TCP_COLOR = '#0066CC';
	const UDP_COLOR = '#8A4FC3';
	/* Edges measured in bytes (the ztunnels' L4 flows), not requests. */
	const byBytes = p => p === 'tcp' || p === 'udp';
	const l4Color = p => (p === 'udp' ? UDP_COLOR : TCP_COLOR);
	/* Box borders say nothing about health. */
	const BOX_COLORS = { namespace: '#6A6E73', app: '#8A8D90' };
	const DURATIONS = [[60, '1m'], [300, '5m'], [600, '10m'], [1800, '30m'], [3600, '1h']];
	const REFRESHES = [[0, 'Off'], [5, '5s'], [10, '10s'], [30, '30s'], [60, '1m']];
	/* fcose first, the default; dropped by graphInit() when lib/cytoscape-fcose.js did not load. */
	const LAYOUTS = ['fcose', 'cose', 'boxes', 'breadthfirst', 'concentric', 'grid'];
	/* ambit-icons (app.css) draws the mTLS padlock, U+1F512, alone: hosts without an emoji font have none. */
	const FONT = '"ambit-icons", system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif';
	const STATUS_ICONS = { valid: '✓', warning: '⚠', error: '✗' };

	const $ = (id) => document.getElementById(id);

	/* ---- small helpers ---- */

	function isNum(v) {
		return typeof v === 'number' && Number.isFinite(v);
	}

	function arr(v) {
		return Array.isArray(v) ? v : [];
	}

	function obj(v) {
		return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
	}

	/* A list of objects, whatever was sent: null entries become empty objects. */
	/* A pod's addresses: IPv4, and in a dual-stack cluster its IPv6 one after it. */
	function podIPs(p) {
		return p.ip6 ? `${p.ip || ''}, ${p.ip6}` : p.ip;
	}

	function objs(v) {
		return arr(v).map(obj);
	}

	/* The distinct nodes a workload's pods run on. */
	function podNodes(pods) {
		return Array.from(new Set(objs(pods).map((p) => p.node).filter(Boolean)));
	}

	function str(v) {
		if (v === null || v === undefined || v === '')
			return '—';
		if (typeof v === 'boolean')
			return v ? 'yes' : 'no';
		if (typeof v === 'object')
			return JSON.stringify(v);
		return String(v);
	}

	function pct(fraction, digits) {
		return isNum(fraction) ? (fraction * 100).toFixed(digits === undefined ? 1 : digits) + '%' : '—';
	}

	function rps(v) {
		return isNum(v) ? v.toFixed(2) + 'rps' : '—';
	}

	function bytes(v, suffix) {
		if (!isNum(v))
			return '—';
		const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
		let i = 0;
		while (Math.abs(v) >= 1024 && i < units.length - 1) {
			v /= 1024;
			i++;
		}
		return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + ' ' + units[i] + (suffix || '');
	}

	function ms(v) {
		return isNum(v) ? (v < 10 ? v.toFixed(2) : v.toFixed(1)) + ' ms' : '—';
	}

	const el = window.ambitDom.el;

	function table(headers, rows, emptyText) {
		if (!rows.length)
			return el('p', { class: 'muted', text: emptyText || 'None.' });
		return el('table', { class: 'grid' },
			el('thead', null, el('tr', null, headers.map((h) => el('th', { text: h })))),
			el('tbody', null, rows.map((r) => el('tr', null, r.map((c) =>
				el('td', null, c instanceof Node ? c : str(c)))))));
	}

	function fields(pairs) {
		return el('dl', { class: 'fields' }, pairs.map(([k, v]) =>
			[el('dt', { text: k }), el('dd', null, v instanceof Node ? v : str(v))]));
	}

	function showAlert(node, message) {
		node.textContent = message || '';
		node.hidden = !message;
	}

	/* Resolves to the parsed body; rejects with the server's {"error"} message when there is one. */
	async function fetchJSON(url, signal) {
		const res = await fetch(url, { signal, headers: { Accept: 'application/json' } });
		let body = null;
		try {
			body = await res.json();
		} catch (e) {
			if (res.ok)
				throw new Error(url.split('?')[0] + ': response is not JSON');
		}
		if (!res.ok) {
			const msg = body && typeof body.error === 'string' ? body.error : res.statusText;
			throw new Error(url.split('?')[0] + ': HTTP ' + res.status + (msg ? ' — ' + msg : ''));
		}
		return body;
	}

	function query(params) {
		const q = new URLSearchParams();
		for (const [k, v] of Object.entries(params))
			if (v !== null && v !== undefined)
				q.set(k, v);
		return q.toString();
	}

	function healthColor(h) {
		return HEALTH_COLORS[h] || HEALTH_COLORS.none;
	}

	function findingsList(findings) {
		const list = arr(findings);
		if (!list.length)
			return el('span', { class: 'muted', text: 'no findings' });
		return el('ul', { class: 'findings' }, list.map((f) => {
			const sev = obj(f).severity === 'error' ? 'error' :
				(obj(f).severity === 'warning' ? 'warning' : 'valid');
			return el('li', null,
				el('span', { class: 'status ' + sev, text: (STATUS_ICONS[sev] || '•') + ' ' }),
				obj(f).field ? el('span', { class: 'field', text: f.field + ': ' }) : null,
				str(obj(f).message));
		}));
	}

	/* ---- routing: #/view?key=value&... ---- */

	const views = {};

	function parseHash() {
		const h = location.hash.replace(/^#/, '');
		const q = h.indexOf('?');
		const path = (q < 0 ? h : h.slice(0, q)).replace(/^\/+/, '').split('/')[0];
		/* No hash: the view of the tool the path names (istioctl dashboard's URLs). */
		const tool = { kiali: 'graph', grafana: 'dashboards', jaeger: 'traces' }[location.pathname.replace(/^\/+/, '')];
		const view = views[path] ? path : (!h && tool) || 'graph';
		return { view, params: new URLSearchParams(q < 0 ? '' : h.slice(q + 1)) };
	}

	/* Rewrites the hash without a hashchange event: the caller has already applied the change. */
	function setHashParams(view, params) {
		const q = query(params);
		history.replaceState(null, '', '#/' + view + (q ? '?' + q : ''));
	}

	let currentView = null;

	function route() {
		const { view, params } = parseHash();
		if (currentView && currentView !== view) {
			if (views[currentView].leave)
				views[currentView].leave();
			panelClose();
		}
		currentView = view;
		document.body.dataset.view = view;
		for (const name of Object.keys(views))
			$('view-' + name).hidden = name !== view;
		for (const a of document.querySelectorAll('[data-nav]'))
			a.classList.toggle('active', a.dataset.nav === view);
		views[view].enter(params);
	}

	/* ---- graph view ---- */

	const graph = {
		cy: null,
		duration: 300,
		refresh: 10,
		layout: LAYOUTS[0],
		layoutChosen: false,		/* picked in the menu or the address, not the default */
		waypoints: false, /* requests drawn through the waypoint that carried them */
		selected: null,		/* null: every namespace */
		known: [],
		timer: null,
		abort: null,
		structure: '',
		resp: null,			/* the last answer drawn, drawn again when a namespace opens */
		edgeFont: 11,			/* edge labels' font size, set by graphFit() for the zoom fitted */
		open: new Set(),		/* namespaces opened by a click when the mesh is collapsed */
		denseLabels: false,		/* labels of a mesh drawn whole: only once they can be read */
		collapse: true,			/* false (#/graph?collapse=0): a large mesh drawn whole */
	};
	window.graphLoaded = 0;
	window.graphError = null;

	function nodeLabel(d) {
		if (d.role === 'unknown')
			return 'unknown';
		if (d.collapsed)
			return (d.name || d.id) + ' (' + d.members + ')';
		return d.name || d.id;
	}

	function edgeLabel(d) {
		const parts = [];
		if (isNum(d.mtls) && d.mtls > 0)
			parts.push(d.mtls < 1 ? '🔒 ' + Math.round(d.mtls * 100) + '%' : '🔒');
		if (byBytes(d.protocol)) {
			if (d.protocol === 'udp')
				parts.push('UDP');
			if (isNum(d.bytesPerSec))
				parts.push(bytes(d.bytesPerSec, '/s'));
		} else {
			if (isNum(d.rps))
				parts.push(rps(d.rps));
			if (isNum(d.errorRate) && d.errorRate > 0)
				parts.push(pct(d.errorRate) + ' err');
		}
		return parts.join(' ');
	}

	/* Logarithmic so one busy edge does not dwarf the rest; TCP counted in KiB/s. */
	function edgeWidth(d) {
		const rate = byBytes(d.protocol) ? (isNum(d.bytesPerSec) ? d.bytesPerSec / 1024 : 0) :
			(isNum(d.rps) ? d.rps : 0);
		return Math.min(7, 1.5 + Math.log2(1 + Math.max(0, rate)));
	}

	function graphStyle() {
		return [
			{ selector: 'node', style: {
				'label': (n) => nodeLabel(n.data()),
				'font-family': FONT,
				'font-size': 11,
				'color': '#151515',
				'text-valign': 'bottom',
				'text-margin-y': 3,
				'text-background-color': '#fff',
				'text-background-opacity': 0.85,
				'text-background-padding': 1,
				'text-wrap': 'ellipsis',
				'text-max-width': 140,
				/*
				 * A label smaller than 8 px on screen is not drawn (a mesh of hundreds fitted whole):
				 * nobody can read it, and the labels were most of the first frame's time (300 nodes,
				 * 1,000 edges: 1.4 s of 1.8). Zooming in brings them back.
				 */
				'min-zoomed-font-size': 8,
				'width': 28,
				'height': 28,
				'background-color': '#fff',
				'border-width': 3,
				'border-color': 'data(color)',
			} },
			{ selector: 'node[kind="service"]', style: { 'shape': 'triangle', 'width': 30, 'height': 26 } },
			{ selector: 'node[role="waypoint"]', style: { 'shape': 'diamond', 'width': 32, 'height': 32 } },
			{ selector: 'node[role="gateway"]', style: { 'shape': 'round-pentagon', 'width': 32, 'height': 32 } },
			{ selector: 'node[role="unknown"]', style: { 'background-color': '#B8BBBE' } },
			{ selector: 'node[kind="app"], node[kind="namespace"], :parent', style: {
				'shape': 'round-rectangle',
				'text-valign': 'top',
				'text-halign': 'center',
				'text-margin-y': -2,
				'text-background-opacity': 0,
				'padding': 14,
				'border-width': 1,
				'background-color': '#fff',
			} },
			{ selector: 'node[kind="app"]', style: {
				'background-color': '#F8F8F8',
				'color': '#4F5255',
				'font-size': 11,
			} },
			{ selector: 'node[kind="namespace"]', style: {
				'border-style': 'dashed',
				'border-width': 2,
				'background-color': '#FCFCFC',
				'font-size': 13,
				'font-weight': 'bold',
				'padding': 22,
			} },
			/* A namespace collapsed into one node: its box's look, its members' worst health. */
			{ selector: 'node[?collapsed]', style: {
				'width': 84,
				'height': 52,
				'border-width': 3,
				'border-color': 'data(color)',
				'text-valign': 'bottom',
				'text-margin-y': 4,
				'text-background-opacity': 0.85,
			} },
			{ selector: 'edge', style: {
				'label': (e) => edgeLabel(e.data()),
				'font-family': FONT,
				/*
				 * Level and on an opaque, outlined ground, as Kiali draws them: a label turned along
				 * its edge or showing the lines under it was hard to read at the fitted zoom.
				 */
				'font-size': () => graph.edgeFont,
				'color': '#151515',
				'text-background-color': '#fff',
				'text-background-opacity': 1,
				'text-background-padding': 2,
				'text-background-shape': 'round-rectangle',
				'text-border-width': 1,
				'text-border-color': '#B8BBBE',
				'text-border-opacity': 1,
				'min-zoomed-font-size': 8,
				'width': (e) => edgeWidth(e.data()),
				'line-color': 'data(color)',
				'target-arrow-color': 'data(color)',
				'target-arrow-shape': 'triangle',
				'arrow-scale': 0.9,
				'curve-style': 'bezier',
			} },
			/*
			 * A mesh drawn whole (more than COLLAPSE_ABOVE nodes) fitted in the view is too
			 * small for any label to be drawn (min-zoomed-font-size), but cytoscape still
			 * makes and measures every one for the elements' bounds: a tenth of the whole
			 * mesh's draw. Until a zoom makes them readable (graphLabels()) they are empty.
			 */
			{ selector: '.dense', style: {
				'label': (e) => (!graph.denseLabels ? '' :
					e.isNode() ? nodeLabel(e.data()) : edgeLabel(e.data())),
			} },
			{ selector: ':selected', style: {
				'overlay-color': '#0066CC',
				'overlay-opacity': 0.18,
				'overlay-padding': 4,
			} },
		];
	}

	function layoutOptions(name) {
		const base = { name, animate: false, fit: false, padding: 30, nodeDimensionsIncludeLabels: true };
		if (name === 'fcose') {
			/*
			 * fcose packs disconnected parts only from a randomized start; runLayout() seeds it.
			 * Springs far weaker than fcose's default (0.45) and a stronger pull of each box on its
			 * members keep namespace and app boxes apart in a dense mesh (a few hundred workloads,
			 * calls across namespaces): with the defaults they overlap. Edges that leave a box get
			 * longer (nestingFactor) so an edge label has room between boxes; a stronger overall
			 * gravity keeps a big mesh round enough to fit the view. An edge of a collapsed namespace
			 * (graphCollapse) is longer still: it carries a label between two wide nodes.
			 */
			return Object.assign(base, { quality: 'proof', randomize: true, packComponents: true,
				idealEdgeLength: (e) => (e.source().data('collapsed') || e.target().data('collapsed') ? 260 : 70),
				edgeElasticity: 0.05, nestingFactor: 0.4, gravityCompound: 3, gravity: 1 });
		}
		if (name === 'cose') {
			/*
			 * A low initialTemp bounds each early jump: with cose's default (1000) a node pushed out of
			 * a box in the first iterations lands thousands of pixels away and stays there.
			 */
			return Object.assign(base, { randomize: true, initialTemp: 100, gravity: 1, numIter: 2000 });
		}
		if (name === 'breadthfirst')
			return Object.assign(base, { directed: true, spacingFactor: 1.1 });
		return base;
	}

	/* mulberry32: a small seeded generator, so that a layout comes out the same on every load. */
	function seededRandom(seed) {
		let s = seed >>> 0;
		return () => {
			s = (s + 0x6D2B79F5) >>> 0;
			let t = Math.imul(s ^ (s >>> 15), s | 1);
			t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
			return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
		};
	}

	/*
	 * fcose keeps boxes apart in most meshes, but where many small namespaces call one another it
	 * can leave two namespace boxes overlapping, which reads as one namespace inside the other. Push
	 * such top-level boxes apart, each pair along the axis that needs the shorter move. The moves
	 * are summed on plain rectangles and applied once: moving a box moves every node in it.
	 */
	function separateTopLevel(cy) {
		const GAP = 20;
		const tops = cy.nodes().orphans();
		const boxes = tops.map((n) => n.boundingBox());
		const moves = boxes.map(() => ({ x: 0, y: 0 }));
		const move = (i, x, y) => {
			boxes[i].x1 += x;
			boxes[i].x2 += x;
			boxes[i].y1 += y;
			boxes[i].y2 += y;
			moves[i].x += x;
			moves[i].y += y;
		};
		for (let pass = 0, moved = true; moved && pass < 100; pass++) {
			moved = false;
			for (let i = 0; i < boxes.length; i++) {
				for (let j = i + 1; j < boxes.length; j++) {
					const a = boxes[i];
					const b = boxes[j];
					const dx = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1) + GAP;
					const dy = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1) + GAP;
					if (dx <= 0 || dy <= 0)
						continue;
					const sx = b.x1 + b.x2 >= a.x1 + a.x2 ? 1 : -1;
					const sy = b.y1 + b.y2 >= a.y1 + a.y2 ? 1 : -1;
					const d = dx < dy ? [sx * dx / 2, 0] : [0, sy * dy / 2];
					move(i, -d[0], -d[1]);
					move(j, d[0], d[1]);
					moved = true;
				}
			}
		}
		tops.forEach((n, i) => {
			if (moves[i].x || moves[i].y)
				n.shift(moves[i]);
		});
	}

	/*
	 * The "boxes" layout: every namespace box, app box and node on rows, tallest first (ties in
	 * the answer's order), each box sized to what it holds, the namespaces' rows as wide as the
	 * view is for its height. Edges are not weighed: it is for a mesh drawn whole, where fcose
	 * took 1.2-2 s of the page's 2-2.6 s (400 nodes, 1,000 edges) and this takes milliseconds. A
	 * leaf's cell leaves room for its label (text-max-width) and a box's edge for its padding and
	 * title, as graphStyle() draws them.
	 * Returns node id to {x, y} for the nodes that are not boxes.
	 */
	const CELL = { w: 150, h: 72 };
	const BOX_GAP = 30;

	function boxesPositions(cy) {
		const at = {};
		const shelf = (items, aspect) => {
			const area = items.reduce((a, it) => a + (it.w + BOX_GAP) * (it.h + BOX_GAP), 0);
			const widest = items.reduce((a, it) => Math.max(a, it.w), 0);
			const width = Math.max(widest, Math.sqrt(area * aspect));
			const rows = [];
			let row = null;
			for (const it of items.slice().sort((a, b) => b.h - a.h)) {
				if (!row || (row.w && row.w + BOX_GAP + it.w > width)) {
					row = { w: 0, h: 0, items: [] };
					rows.push(row);
				}
				it.x = row.w ? row.w + BOX_GAP : 0;
				row.w = it.x + it.w;
				row.h = Math.max(row.h, it.h);
				row.items.push(it);
			}
			let y = 0;
			for (const r of rows) {
				r.y = y;
				y += r.h + BOX_GAP;
			}
			return { w: rows.reduce((a, r) => Math.max(a, r.w), 0), h: Math.max(0, y - BOX_GAP),
				put: (x0, y0) => rows.forEach((r) =>
					r.items.forEach((it) => it.put(x0 + it.x, y0 + r.y))) };
		};
		const box = (n) => {
			if (!n.isParent()) {
				return { w: CELL.w, h: CELL.h, put: (x, y) => {
					at[n.id()] = { x: x + CELL.w / 2, y: y + CELL.h / 2 };
				} };
			}
			const pad = n.data('kind') === 'namespace' ? 22 : 14;
			const title = 20;
			const inner = shelf(n.children().map(box), 1.5);
			return { w: inner.w + 2 * pad, h: inner.h + 2 * pad + title,
				put: (x, y) => inner.put(x + pad, y + pad + title) };
		};
		const aspect = Math.max(0.5, cy.width() / Math.max(1, cy.height()));
		shelf(cy.nodes().orphans().map(box), aspect).put(0, 0);
		return at;
	}

	/* The layout run: the menu's, but boxes for a mesh drawn whole when none was chosen. */
	function layoutName(cy) {
		if (!graph.layoutChosen && graph.layout === LAYOUTS[0] && cy.nodes().length > COLLAPSE_ABOVE &&
		    LAYOUTS.includes('boxes'))
			return 'boxes';
		return graph.layout;
	}

	/*
	 * fcose and cose draw from Math.random and offer no seed, so the same graph would come out
	 * differently on every load. Math.random is swapped for a seeded generator for the duration of
	 * the (synchronous, unanimated) run, and layout-base's own generator, a counter that carries
	 * over from run to run, is rewound. fcose's result also depends on where the nodes stand when
	 * it starts: starting them all at the origin, as freshly added nodes are, makes a switch of
	 * layout and back give the same drawing too.
	 */
	function runLayout() {
		const cy = graph.cy;
		if (!cy || !cy.nodes().length)
			return;
		const random = Math.random;
		const t0 = performance.now();
		const name = layoutName(cy);
		/* The menu says which layout is drawn; picking fcose there then draws fcose. */
		$('layout').value = name;
		try {
			Math.random = seededRandom(1);
			if (window.layoutBase && layoutBase.RandomSeed)
				layoutBase.RandomSeed.seed = 1;
			cy.nodes().positions({ x: 0, y: 0 });
			if (name === 'boxes') {
				const at = boxesPositions(cy);
				cy.layout({ name: 'preset', positions: (n) => at[n.id()], fit: false,
					animate: false }).run();
			} else {
				cy.layout(layoutOptions(name)).run();
			}
			if (name === 'fcose')
				separateTopLevel(cy);
		} finally {
			Math.random = random;
		}
		window.graphLayout = { name, ms: performance.now() - t0 };
		graphFit();
	}

	/*
	 * Fit, but do not blow a small graph up to a giant one. Edge labels are then sized for the zoom
	 * fitted: 11 px on screen down to a zoom of 0.69 (bookinfo fitted is about 0.75, where a label
	 * of the nodes' size was 8 px), smaller beyond it, and left out under 8 px as before.
	 */
	function graphFit() {
		const cy = graph.cy;
		if (cy.nodes().length > COLLAPSE_ABOVE)
			fitPositions(cy, 30);
		else
			cy.fit(undefined, 30);
		if (cy.zoom() > 1.3) {
			cy.zoom(1.3);
			cy.center();
		}
		const size = Math.min(16, Math.max(11, 11 / cy.zoom()));
		if (size !== graph.edgeFont) {
			graph.edgeFont = size;
			/* Unless they are empty (graphLabels()), whose style the zoom in will compute. */
			(graph.denseLabels ? cy.edges() : cy.edges(':not(.dense)')).updateStyle();
		}
		graphLabels();
	}

	/*
	 * A mesh drawn whole gets its labels at the zoom where the first of them can be read: an edge's
	 * label, at most 16 px (graphFit()), is drawn from 8 px on screen (min-zoomed-font-size).
	 */
	const LABELS_FROM_ZOOM = 8 / 16;

	function graphLabels() {
		const cy = graph.cy;
		const want = cy.zoom() >= LABELS_FROM_ZOOM;
		if (want !== graph.denseLabels) {
			graph.denseLabels = want;
			cy.elements('.dense').updateStyle();
		}
	}

	/*
	 * cy.fit() on a large mesh, from the nodes' positions alone. cytoscape's fit takes every
	 * element's bounding box, its label measured and the boxes' bounds summed up the tree: on the
	 * whole mesh (400 nodes, 1,000 edges) 135 ms of the 1.0 s drawing took with positions given,
	 * for labels too small at the zoom fitted to be drawn. The outermost box reaches past its
	 * members' positions by a node's half, the two paddings and a line of title: BOX_MARGIN.
	 */
	const BOX_MARGIN = 60;

	function fitPositions(cy, padding) {
		let x1 = Infinity;
		let y1 = Infinity;
		let x2 = -Infinity;
		let y2 = -Infinity;
		cy.nodes().forEach((n) => {
			if (n.isParent())
				return;
			const p = n.position();
			x1 = Math.min(x1, p.x);
			y1 = Math.min(y1, p.y);
			x2 = Math.max(x2, p.x);
			y2 = Math.max(y2, p.y);
		});
		if (x1 === Infinity)
			return;
		x1 -= BOX_MARGIN;
		y1 -= BOX_MARGIN;
		x2 += BOX_MARGIN;
		y2 += BOX_MARGIN;
		const w = cy.width() - 2 * padding;
		const h = cy.height() - 2 * padding;
		const zoom = Math.max(cy.minZoom(), Math.min(cy.maxZoom(), w / (x2 - x1), h / (y2 - y1)));
		cy.viewport({ zoom, pan: { x: (cy.width() - zoom * (x1 + x2)) / 2,
			y: (cy.height() - zoom * (y1 + y2)) / 2 } });
	}

	/*
	 * The API's node and edge objects become cytoscape data as they are, plus `color`. Edges whose
	 * ends are not among the nodes get a placeholder node (cytoscape would throw), ids that repeat are
	 * dropped for the same reason.
	 */
	function graphElements(resp) {
		const nodes = [];
		const edges = [];
		const ids = new Set();
		for (const n of arr(resp.nodes)) {
			if (!n || typeof n !== 'object' || n.id === undefined || n.id === null || ids.has(String(n.id)))
				continue;
			const d = Object.assign({}, n, { id: String(n.id) });
			d.color = BOX_COLORS[n.kind] || healthColor(n.health);
			ids.add(d.id);
			nodes.push({ group: 'nodes', data: d });
		}
		let i = 0;
		for (const e of arr(resp.edges)) {
			if (!e || typeof e !== 'object' || e.source === undefined || e.target === undefined)
				continue;
			const d = Object.assign({}, e);
			d.source = String(e.source);
			d.target = String(e.target);
			d.id = e.id !== undefined && e.id !== null ? String(e.id) : 'edge-' + i;
			i++;
			if (ids.has(d.id))
				continue;
			for (const end of [d.source, d.target]) {
				if (!ids.has(end)) {
					ids.add(end);
					nodes.push({ group: 'nodes', data: { id: end, kind: 'workload', role: 'unknown',
						name: end, health: 'none', placeholder: true, color: HEALTH_COLORS.none } });
				}
			}
			d.color = byBytes(d.protocol) ? l4Color(d.protocol) : healthColor(e.health);
			ids.add(d.id);
			edges.push({ group: 'edges', data: d,
				classes: [d.protocol || '', isNum(d.mtls) && d.mtls > 0 ? 'mtls' : ''].join(' ').trim() });
		}
		return { nodes, edges };
	}

	/*
	 * Level of detail, as Kiali's graph: a mesh of more than COLLAPSE_ABOVE workloads and Services
	 * over several namespaces is first drawn with each namespace as one node and the traffic between
	 * namespaces summed on one edge per direction and protocol. Hundreds of nodes and a thousand
	 * edges fitted in one view are too small to read anyway, and laying them out and drawing them
	 * took seconds (300 Services, 1,000 edges: 3.2 s); a click on a namespace opens it in place.
	 */
	const COLLAPSE_ABOVE = 120;

	/* The worst of two healths, as the edge's and the node's colours read them. */
	function worseHealth(a, b) {
		const rank = { failure: 3, degraded: 2, healthy: 1 };
		return (rank[a] || 0) >= (rank[b] || 0) ? a : b;
	}

	/*
	 * The elements of graphElements() with every namespace not in @open collapsed into its own node,
	 * or as they are when the mesh is small. A collapsed namespace keeps its id (the box's), so a
	 * refresh of the same traffic updates it in place. Traffic inside one collapsed namespace is not
	 * drawn. A summed edge's mTLS share is weighed by rate (requests or bytes), its error share by
	 * requests.
	 */
	function graphCollapse(nodes, edges, open) {
		const byId = new Map(nodes.map((n) => [n.data.id, n.data]));
		const nsOf = (d) => {
			for (let p = d, hops = 0; p && hops < 4; p = byId.get(p.parent), hops++) {
				if (p.kind === 'namespace')
					return p.id;
			}
			return null;
		};
		const leaves = nodes.filter((n) => n.data.kind !== 'namespace' && n.data.kind !== 'app');
		const spaces = new Set(leaves.map((n) => nsOf(n.data)).filter((id) => id));
		if (!graph.collapse || leaves.length <= COLLAPSE_ABOVE || spaces.size < 2)
			return { nodes, edges, collapsed: 0 };
		const into = new Map();
		const members = new Map();
		for (const n of leaves) {
			const ns = nsOf(n.data);
			if (ns && !open.has(ns)) {
				into.set(n.data.id, ns);
				const m = members.get(ns) || { count: 0, health: 'none' };
				m.count++;
				m.health = worseHealth(m.health, n.data.health);
				members.set(ns, m);
			}
		}
		const outNodes = [];
		for (const n of nodes) {
			const d = n.data;
			if (into.has(d.id) || (d.kind === 'app' && members.has(nsOf(d))))
				continue;
			if (d.kind === 'namespace' && members.has(d.id)) {
				const m = members.get(d.id);
				outNodes.push({ group: 'nodes', data: Object.assign({}, d, { collapsed: true,
					members: m.count, health: m.health, color: healthColor(m.health) }) });
				continue;
			}
			outNodes.push(n);
		}
		const sums = new Map();
		const outEdges = [];
		for (const e of edges) {
			const d = e.data;
			const src = into.get(d.source) || d.source;
			const dst = into.get(d.target) || d.target;
			if (src === d.source && dst === d.target) {
				outEdges.push(e);
				continue;
			}
			if (src === dst)
				continue;
			const tcp = byBytes(d.protocol);
			const key = src + '>' + dst + (tcp ? ':' + d.protocol : ':http');
			let a = sums.get(key);
			if (!a) {
				a = { id: 'sum:' + key, source: src, target: dst, protocol: d.protocol,
					rps: null, errors: 0, bytesPerSec: null, mtlsWeight: 0, weight: 0, mtlsSum: 0,
					mtlsCount: 0, health: 'none', codes: {}, edges: 0 };
				sums.set(key, a);
			}
			if (!tcp && a.protocol !== d.protocol)
				a.protocol = 'http';
			const w = tcp ? (isNum(d.bytesPerSec) ? d.bytesPerSec : 0) : (isNum(d.rps) ? d.rps : 0);
			if (isNum(d.rps)) {
				a.rps = (a.rps || 0) + d.rps;
				a.errors += isNum(d.errorRate) ? d.errorRate * d.rps : 0;
			}
			if (isNum(d.bytesPerSec))
				a.bytesPerSec = (a.bytesPerSec || 0) + d.bytesPerSec;
			if (isNum(d.mtls)) {
				a.mtlsSum += d.mtls;
				a.mtlsCount++;
				a.mtlsWeight += d.mtls * w;
				a.weight += w;
			}
			for (const [k, v] of Object.entries(obj(d.codes))) {
				if (isNum(v))
					a.codes[k] = (a.codes[k] || 0) + v;
			}
			a.health = worseHealth(a.health, d.health);
			a.edges++;
		}
		for (const a of sums.values()) {
			const d = { id: a.id, source: a.source, target: a.target, protocol: a.protocol, rps: a.rps,
				errorRate: a.rps > 0 ? a.errors / a.rps : (a.rps === null ? null : 0),
				bytesPerSec: a.bytesPerSec, codes: byBytes(a.protocol) ? null : a.codes,
				mtls: !a.mtlsCount ? null : (a.weight > 0 ? a.mtlsWeight / a.weight : a.mtlsSum / a.mtlsCount),
				health: a.health, edges: a.edges };
			d.color = byBytes(d.protocol) ? l4Color(d.protocol) : healthColor(d.health);
			outEdges.push({ group: 'edges', data: d,
				classes: [d.protocol, isNum(d.mtls) && d.mtls > 0 ? 'mtls' : ''].join(' ').trim() });
		}
		return { nodes: outNodes, edges: outEdges, collapsed: members.size };
	}

	function graphAlert(message) {
		const box = $('graph-alert');
		const was = box.hidden;
		showAlert(box, message);
		if (graph.cy && was !== box.hidden)
			graph.cy.resize();
	}

	/*
	 * Computes the style of freshly added elements in one pass. cytoscape computes an element's style
	 * when it is first read, and after each property it sets it invalidates what depends on it: with
	 * compound nodes, the cached style of the element, its descendants, its parents and every edge
	 * of them, and the bounds up the tree. For a graph just added nothing depends on anything yet, and
	 * those invalidations were most of the first layout's time (300 workloads, 1,000 edges: 1.5 of
	 * 2.9 s). So the style is computed with them turned off, then everything is invalidated once.
	 * cytoscape's internals: where they are not as expected, the style is left to be computed lazily.
	 */
	function styleFresh(cy, eles) {
		const style = cy.style();
		if (typeof style.checkTriggers !== 'function' || typeof eles.cleanStyle !== 'function' ||
		    Object.prototype.hasOwnProperty.call(style, 'checkTriggers'))
			return;
		style.checkTriggers = () => {};
		try {
			eles.cleanStyle();
		} finally {
			delete style.checkTriggers;
		}
		eles.dirtyStyleCache();
		eles.dirtyCompoundBoundsCache(true);
		eles.dirtyBoundingBoxCache();
	}

	function graphRender(resp) {
		const cy = graph.cy;
		/* The banner first: it changes the canvas' height, which the fit below must see. */
		const prom = obj(resp.prometheus);
		if (resp.prometheus && prom.ok === false) {
			graphAlert('Prometheus ' + (prom.url ? '(' + prom.url + ') ' : '') +
				'is not answering: ' + (prom.error || 'query failed') +
				'. Rates, health and mTLS shares are missing.');
		} else {
			graphAlert('');
		}
		graph.resp = resp;
		const all = graphElements(obj(resp));
		const { nodes, edges, collapsed } = graphCollapse(all.nodes, all.edges, graph.open);
		window.graphCollapsed = collapsed;
		if (nodes.length > COLLAPSE_ABOVE) {
			for (const e of nodes.concat(edges))
				e.classes = (e.classes ? e.classes + ' ' : '') + 'dense';
		}
		const structure = JSON.stringify([nodes.map((n) => [n.data.id, n.data.parent]),
			edges.map((e) => [e.data.id, e.data.source, e.data.target])]);
		if (structure === graph.structure) {
			/* Same shape: update in place so a periodic refresh does not move anything. */
			cy.batch(() => {
				for (const item of nodes.concat(edges)) {
					const ele = cy.getElementById(item.data.id);
					const d = Object.assign({}, item.data);
					delete d.id; delete d.parent; delete d.source; delete d.target;
					ele.removeData();
					ele.data(d);
					if (item.classes !== undefined)
						ele.classes(item.classes);
				}
			});
		} else {
			cy.batch(() => {
				cy.elements().remove();
				cy.add(nodes);
				cy.add(edges);
			});
			styleFresh(cy, cy.elements());
			graph.structure = structure;
			runLayout();
		}
		$('graph-empty').hidden = nodes.length > 0;
		$('graph-empty').textContent = 'No traffic in the selected namespaces and time range.';

		const ts = isNum(resp.timestamp) ? new Date(resp.timestamp * 1000) : new Date();
		$('graph-updated').textContent = 'Updated ' + ts.toLocaleTimeString();
	}

	function graphSchedule() {
		clearTimeout(graph.timer);
		graph.timer = null;
		if (currentView === 'graph' && graph.refresh > 0)
			graph.timer = setTimeout(graphLoad, graph.refresh * 1000);
	}

	async function loadNamespaces() {
		try {
			const list = await fetchJSON('api/namespaces');
			graph.known = arr(list).filter((n) => typeof n === 'string');
		} catch (e) {
			graph.known = [];
		}
		renderNamespaceMenu();
	}

	function renderNamespaceMenu() {
		const names = Array.from(new Set(graph.known.concat(graph.selected || []))).sort();
		const menu = $('ns-menu');
		menu.replaceChildren();
		const all = el('input', { type: 'checkbox' });
		all.checked = graph.selected === null;
		all.addEventListener('change', () => setNamespaces(all.checked ? null : []));
		menu.append(el('label', null, all, 'All namespaces'), el('hr'));
		for (const ns of names) {
			const box = el('input', { type: 'checkbox', value: ns });
			box.checked = graph.selected === null || graph.selected.includes(ns);
			box.addEventListener('change', () => {
				const chosen = Array.from(menu.querySelectorAll('input[value]'))
					.filter((b) => b.checked).map((b) => b.value);
				setNamespaces(chosen.length === names.length ? null : chosen);
			});
			menu.append(el('label', null, box, ns));
		}
		if (!names.length)
			menu.append(el('div', { class: 'muted', style: 'padding:3px 12px', text: 'no namespaces known' }));
		$('ns-summary').textContent = 'Namespaces: ' + (graph.selected === null ? 'all' :
			(graph.selected.length ? graph.selected.join(', ') : 'none'));
	}

	function setNamespaces(sel) {
		graph.selected = sel;
		renderNamespaceMenu();
		graphSaveHash();
		graphLoad();
	}

	function graphSaveHash() {
		setHashParams('graph', {
			duration: graph.duration,
			refresh: graph.refresh,
			namespaces: graph.selected === null ? null : graph.selected.join(','),
			layout: graph.layout === LAYOUTS[0] && !graph.layoutChosen ? null : graph.layout,
			waypoints: graph.waypoints ? '1' : null,
			collapse: graph.collapse ? null : '0',
			/* The namespaces opened on a collapsed mesh, by name (ns:NAME is the box's id). */
			expanded: graph.open.size ? Array.from(graph.open, (id) => id.replace(/^ns:/, '')).sort().join(',') : null,
		});
	}

	async function graphLoad() {
		clearTimeout(graph.timer);
		if (graph.abort)
			graph.abort.abort();
		const ctl = new AbortController();
		graph.abort = ctl;
		const ns = graph.selected === null ? graph.known : graph.selected;
		if (graph.selected !== null && !ns.length) {
			graph.abort = null;
			graphRender({});
			$('graph-empty').textContent = 'No namespace selected.';
			window.graphLoaded++;
			return;
		}
		/* Literal commas, as the API documents the list; names are DNS labels and need no escaping. */
		const url = 'api/graph?' + query({ duration: graph.duration }) +
			(graph.waypoints ? '&waypoints=1' : '') + (ns.length ? '&namespaces=' + ns.map(encodeURIComponent).join(',') : '');
		try {
			const resp = await fetchJSON(url, ctl.signal);
			if (ctl.signal.aborted)
				return;
			graphRender(resp);
			window.graphError = null;
			window.graphLoaded++;
		} catch (e) {
			if (ctl.signal.aborted)
				return;
			window.graphError = e.message;
			graphAlert('Cannot load the graph: ' + e.message);
		}
		if (graph.abort === ctl)
			graph.abort = null;
		graphSchedule();
	}

	function fillSelect(select, options, value) {
		const list = options.slice();
		if (!list.some(([v]) => v === value))
			list.push([value, String(value) + 's']);
		select.replaceChildren(...list.map(([v, label]) => el('option', { value: String(v), text: label })));
		select.value = String(value);
	}

	function graphInit() {
		if (typeof cytoscape !== 'function') {
			showAlert($('graph-alert'), 'lib/cytoscape.min.js did not load: the graph cannot be drawn.');
			return false;
		}
		/* The UMD build registers itself with a global cytoscape; one that does not is registered here. */
		if (typeof cytoscapeFcose === 'function' && !cytoscape('layout', 'fcose'))
			cytoscape.use(cytoscapeFcose);
		if (!cytoscape('layout', 'fcose')) {
			LAYOUTS.splice(LAYOUTS.indexOf('fcose'), 1);
			graph.layout = LAYOUTS[0];
		}
		/* A mesh of a few hundred workloads is drawn some 10,000 pixels wide: let Fit show it whole. */
		graph.cy = cytoscape({
			container: $('cy'),
			style: graphStyle(),
			minZoom: 0.05,
			maxZoom: 4,
			boxSelectionEnabled: false,
		});
		window.cy = graph.cy;
		/*
		 * A canvas draws with the fonts loaded when it draws and does not load one itself: labels
		 * drawn before the padlock's font was in are drawn again once it is.
		 */
		if (document.fonts && !document.fonts.check('10px "ambit-icons"', '\u{1F512}')) {
			document.fonts.load('10px "ambit-icons"', '\u{1F512}').then(() => {
				if (graph.cy.elements().length)
					graph.cy.style().update();
			}, () => {});
		}
		graph.cy.on('tap', 'node', (ev) => {
			const d = ev.target.data();
			if (!d.collapsed)
				return openNodePanel(d);
			/* A collapsed namespace opens in place; the others stay as they are. */
			graph.open.add(d.id);
			graphSaveHash();
			graphRender(graph.resp);
		});
		graph.cy.on('tap', 'edge', (ev) => openEdgePanel(ev.target.data()));
		graph.cy.on('zoom', graphLabels);

		$('duration').addEventListener('change', (ev) => {
			graph.duration = Number(ev.target.value);
			graphSaveHash();
			graphLoad();
		});
		$('refresh').addEventListener('change', (ev) => {
			graph.refresh = Number(ev.target.value);
			graphSaveHash();
			graphSchedule();
		});
		$('layout').addEventListener('change', (ev) => {
			graph.layout = ev.target.value;
			graph.layoutChosen = true;
			graphSaveHash();
			runLayout();
		});
		$('waypoints').addEventListener('change', (ev) => {
			graph.waypoints = ev.target.checked;
			graphSaveHash();
			graphLoad();
		});
		$('refresh-now').addEventListener('click', async () => {
			await loadNamespaces();
			graphLoad();
		});
		$('fit').addEventListener('click', graphFit);
		document.addEventListener('click', (ev) => {
			const dd = $('ns-dropdown');
			if (dd.open && !dd.contains(ev.target))
				dd.open = false;
		});
		return true;
	}

	function positiveInt(s, fallback) {
		const n = Number(s);
		return s !== null && Number.isInteger(n) && n >= 0 ? n : fallback;
	}

	views.graph = {
		async enter(params) {
			if (!graph.cy && !graphInit())
				return;
			/* A bare #/graph (the nav link) keeps the current choices. */
			if (Array.from(params.keys()).length) {
				graph.duration = positiveInt(params.get('duration'), graph.duration) || 300;
				graph.refresh = positiveInt(params.get('refresh'), graph.refresh);
				graph.layout = LAYOUTS.includes(params.get('layout')) ? params.get('layout') : LAYOUTS[0];
				graph.layoutChosen = LAYOUTS.includes(params.get('layout'));
				graph.waypoints = params.get('waypoints') === '1';
				graph.collapse = params.get('collapse') !== '0';
				graph.open = new Set((params.get('expanded') || '').split(',').filter(Boolean)
					.map((n) => 'ns:' + n));
				const nsParam = params.get('namespaces');
				graph.selected = nsParam === null ? null : nsParam.split(',').filter(Boolean);
			}
			graphSaveHash();
			fillSelect($('duration'), DURATIONS, graph.duration);
			fillSelect($('refresh'), REFRESHES, graph.refresh);
			$('layout').replaceChildren(...LAYOUTS.map((l) => el('option', { value: l, text: l })));
			$('layout').value = graph.layout;
			$('waypoints').checked = graph.waypoints;
			graph.cy.resize();
			await loadNamespaces();
			if (currentView === 'graph')
				graphLoad();
		},
		leave() {
			clearTimeout(graph.timer);
			graph.timer = null;
			if (graph.abort)
				graph.abort.abort();
		},
	};

	/* ---- side panel ---- */

	const panel = { token: 0, charts: [] };

	function panelOpen(title, forId) {
		for (const c of panel.charts)
			c.destroy();
		panel.charts = [];
		panel.token++;
		$('panel-title').textContent = title;
		$('panel-body').replaceChildren(el('div', { class: 'loading', text: 'Loading…' }));
		$('panel').dataset.state = 'loading';
		$('panel').dataset.for = forId;
		$('panel').hidden = false;
		return panel.token;
	}

	function panelClose() {
		for (const c of panel.charts)
			c.destroy();
		panel.charts = [];
		panel.token++;
		$('panel').hidden = true;
		$('panel').dataset.state = '';
		if (graph.cy)
			graph.cy.elements().unselect();
	}

	function panelFill(token, state, children) {
		if (token !== panel.token)
			return;
		$('panel-body').replaceChildren(...children.flat(Infinity).filter(Boolean));
		$('panel').dataset.state = state;
	}

	/* Fields a panel does not lay out itself are still shown, so nothing the API adds is hidden. */
	function otherFields(data, known) {
		const rest = Object.entries(obj(data)).filter(([k, v]) => !known.includes(k) && v !== undefined);
		if (!rest.length)
			return null;
		return [el('h3', { text: 'Other fields' }), fields(rest.map(([k, v]) =>
			[k, typeof v === 'object' && v !== null ? el('pre', { text: JSON.stringify(v, null, 2) }) : v]))];
	}

	function labelChips(labels) {
		const entries = Object.entries(obj(labels));
		if (!entries.length)
			return el('p', { class: 'muted', text: 'None.' });
		return el('div', null, entries.map(([k, v]) =>
			[el('span', { class: 'chip', text: k + '=' + str(v) }), ' ']));
	}

	function objectsSection(title, list) {
		return [el('h3', { text: title }), table(['Kind', 'Object', 'Enforced by', 'Findings'],
			arr(list).map((p) => [str(obj(p).kind), [obj(p).namespace, obj(p).name].filter(Boolean).join('/') || '—',
				str(obj(p).enforcedBy), findingsList(obj(p).findings)]))];
	}

	function explanationsSection(list) {
		const items = arr(list);
		return [el('h3', { text: 'Explanations' }), items.length ? items.map((x) => [
			el('h4', { text: str(obj(x).from) + ' → ' + str(obj(x).to) }),
			el('pre', { text: typeof obj(x).text === 'string' ? x.text : str(obj(x).text) })]) :
			el('p', { class: 'muted', text: 'None.' })];
	}

	function chartBlock(title, series) {
		const s = obj(series);
		const toPoints = (list, scale) => arr(list).filter((p) => Array.isArray(p) && isNum(p[0]) && isNum(p[1]))
			.map((p) => ({ x: p[0] * 1000, y: p[1] * scale }));
		const sets = [
			{ label: 'requests/s', data: toPoints(s.rps, 1), yAxisID: 'rps', borderColor: '#0066CC' },
			{ label: 'error %', data: toPoints(s.errorRate, 100), yAxisID: 'err', borderColor: '#C9190B' },
			{ label: 'TCP bytes/s', data: toPoints(s.tcp, 1), yAxisID: 'tcp', borderColor: '#5BA352' },
		].filter((d) => d.data.length);
		const head = el('h4', { text: title });
		if (!sets.length)
			return [head, el('p', { class: 'muted', text: 'No data.' })];
		if (typeof Chart !== 'function')
			return [head, el('p', { class: 'muted', text: 'lib/chart.umd.js did not load: no chart.' })];
		const canvas = el('canvas');
		const box = el('div', { class: 'chart-box' }, canvas);
		const axes = {
			rps: { position: 'left', title: 'req/s', tick: (v) => v },
			err: { position: 'right', title: 'error %', tick: (v) => v + '%', min: 0 },
			tcp: { position: 'right', title: 'bytes/s', tick: (v) => bytes(v) },
		};
		const xs = sets.flatMap((d) => d.data.map((pt) => pt.x));
		const scales = {
			x: {
				type: 'linear',
				min: Math.min(...xs),
				max: Math.max(...xs),
				ticks: { maxTicksLimit: 6, callback: (v) =>
					new Date(v).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) },
			},
		};
		for (const d of sets) {
			const a = axes[d.yAxisID];
			scales[d.yAxisID] = { position: a.position, beginAtZero: true, min: a.min,
				title: { display: true, text: a.title }, ticks: { maxTicksLimit: 5, callback: a.tick },
				grid: { drawOnChartArea: d === sets[0] } };
			Object.assign(d, { backgroundColor: d.borderColor, pointRadius: 0, borderWidth: 2, tension: 0.2 });
		}
		/* Chart.js needs the canvas in the document to size it; build after panelFill. */
		setTimeout(() => {
			if (!canvas.isConnected)
				return;
			panel.charts.push(new Chart(canvas, {
				type: 'line',
				data: { datasets: sets },
				options: {
					animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
					interaction: { mode: 'index', intersect: false },
					plugins: { legend: { labels: { boxWidth: 12 } }, tooltip: { callbacks: {
						title: (items) => items.length ? new Date(items[0].parsed.x).toLocaleTimeString() : '' } } },
					scales,
				},
			}));
		}, 0);
		return [head, box];
	}

	function chartsSection(charts) {
		const c = obj(charts);
		const dirs = Object.keys(c).length ? Object.keys(c) : ['inbound', 'outbound'];
		return [el('h3', { text: 'Traffic' }), dirs.map((dir) =>
			chartBlock(dir.charAt(0).toUpperCase() + dir.slice(1), c[dir]))];
	}

	async function openWorkloadPanel(ns, name, forId) {
		const token = panelOpen('Workload ' + (ns ? ns + '/' : '') + name, forId || 'wl:' + ns + '/' + name);
		let w;
		try {
			w = obj(await fetchJSON('api/workload?' + query({ namespace: ns, name, duration: graph.duration })));
		} catch (e) {
			panelFill(token, 'error', [el('div', { class: 'alert', text: e.message })]);
			return;
		}
		const pods = objs(w.pods);
		const nodes = podNodes(pods);
		panelFill(token, 'loaded', [
			fields([
				['Namespace', w.namespace], ['Name', w.name], ['Role', w.role], ['App', w.app],
				['Version', w.version], ['Service account', w.serviceAccount], ['Identity', w.identity],
				['Node(s)', nodes.join(', ')], ['Enrolled', w.enrolled], ['Waypoint', w.waypoint],
				['Services', arr(w.services).join(', ')],
				['Traces', tracesLink(traceServices({ kind: 'workload', namespace: w.namespace || ns,
					name: w.name || name, app: w.app }))],
			]),
			el('h3', { text: 'Enrollment' }),
			w.enrollment ? el('pre', { text: String(w.enrollment) }) : el('p', { class: 'muted', text: '—' }),
			el('h3', { text: 'Pods' }),
			table(['Name', 'IP', 'Node'], pods.map((p) => [p.name, podIPs(p), p.node])),
			el('h3', { text: 'Labels' }), labelChips(w.labels),
			chartsSection(w.charts),
			objectsSection('Policies', w.policies),
			objectsSection('Routes', w.routes),
			explanationsSection(w.explanations),
			el('h3', { text: 'Live connections' }),
			table(['Dir', 'Source', 'Destination', 'Source identity', 'Destination identity', 'Sent', 'Received'],
				objs(w.connections).map((c) => [c.direction, c.src, c.dst, c.srcIdentity, c.dstIdentity,
					bytes(c.bytesSent), bytes(c.bytesRecv)])),
			otherFields(w, ['namespace', 'name', 'role', 'app', 'version', 'serviceAccount', 'identity',
				'enrolled', 'waypoint', 'services', 'enrollment', 'pods', 'labels', 'charts', 'policies',
				'routes', 'explanations', 'connections']),
		]);
	}

	async function openServicePanel(ns, name, forId) {
		const token = panelOpen('Service ' + (ns ? ns + '/' : '') + name, forId || 'svc:' + ns + '/' + name);
		let s;
		try {
			s = obj(await fetchJSON('api/service?' + query({ namespace: ns, name, duration: graph.duration })));
		} catch (e) {
			panelFill(token, 'error', [el('div', { class: 'alert', text: e.message })]);
			return;
		}
		panelFill(token, 'loaded', [
			fields([['Namespace', s.namespace], ['Name', s.name], ['Cluster IP', s.ip], ['Waypoint', s.waypoint],
				['Traces', tracesLink(traceServices({ kind: 'service', namespace: s.namespace || ns,
					name: s.name || name }))]]),
			el('h3', { text: 'Ports' }),
			table(['Name', 'Port', 'Target port'], objs(s.ports).map((p) => [p.name, p.port, p.targetPort])),
			el('h3', { text: 'Endpoints' }),
			table(['Pod', 'IP', 'Node'], objs(s.endpoints).map((p) => [p.pod, podIPs(p), p.node])),
			chartsSection(s.charts),
			objectsSection('Policies', s.policies),
			objectsSection('Routes', s.routes),
			explanationsSection(s.explanations),
			otherFields(s, ['namespace', 'name', 'ip', 'waypoint', 'ports', 'endpoints', 'charts', 'policies',
				'routes', 'explanations']),
		]);
	}

	function openNodePanel(d) {
		if (d.kind === 'workload' && d.role !== 'unknown' && d.name && !d.placeholder)
			return openWorkloadPanel(d.namespace, d.name, d.id);
		if (d.kind === 'service' && d.name)
			return openServicePanel(d.namespace, d.name, d.id);
		const token = panelOpen((d.kind || 'node') + ' ' + nodeLabel(d), d.id);
		const children = graph.cy ? graph.cy.getElementById(d.id).children().map((c) => c.data()) : [];
		/* A namespace opened on a collapsed mesh folds back into one node, as Kiali's does. */
		const fold = d.kind === 'namespace' && graph.open.has(d.id) ?
			el('button', { class: 'collapse-ns', text: 'Collapse namespace', onclick: () => {
				graph.open.delete(d.id);
				panelClose();
				graphSaveHash();
				graphRender(graph.resp);
			} }) : null;
		panelFill(token, 'loaded', [
			fold,
			fields(Object.entries(d).filter(([k]) => k !== 'color').concat(d.kind === 'app' ?
				[['Traces', tracesLink(traceServices(d))]] : [])),
			children.length ? [el('h3', { text: 'Contains' }), table(['Kind', 'Name', 'Health'],
				children.map((c) => [c.role && c.role !== 'workload' ? c.role : c.kind, nodeLabel(c),
					el('span', { class: 'badge ' + (c.health || 'none'), text: c.health || 'none' })]))] : null,
		]);
	}

	function nameOf(id) {
		const n = graph.cy ? graph.cy.getElementById(id) : null;
		if (!n || !n.length)
			return str(id);
		return (n.data('namespace') ? n.data('namespace') + '/' : '') + nodeLabel(n.data());
	}

	function openEdgePanel(d) {
		const token = panelOpen(nameOf(d.source) + ' → ' + nameOf(d.target), d.id);
		const codes = d.codes && typeof d.codes === 'object' ? Object.entries(d.codes) : [];
		const total = codes.reduce((s, [, v]) => s + (isNum(v) ? v : 0), 0);
		panelFill(token, 'loaded', [
			fields([
				['Protocol', d.protocol],
				['Health', el('span', { class: 'badge ' + (d.health || 'none'), text: d.health || 'none' })],
				['Request rate', rps(d.rps)],
				['Error rate', pct(d.errorRate, 2)],
				['p99 latency', ms(d.p99)],
				['Throughput', bytes(d.bytesPerSec, '/s')],
				['mTLS', isNum(d.mtls) ? (d.mtls > 0 ? '🔒 ' : '') + pct(d.mtls, 0) + ' of traffic' : '—'],
				['Waypoint', d.waypoint],
				['Source', d.source],
				['Destination', d.target],
				['Traces', tracesLink(traceServices(graph.cy && graph.cy.getElementById(d.target).length ?
					graph.cy.getElementById(d.target).data() : {}))],
			]),
			el('h3', { text: 'Response codes' }),
			table(['Class', 'Rate', 'Share'], codes.map(([k, v]) =>
				[k, rps(v), total > 0 && isNum(v) ? pct(v / total) : '—']), 'No HTTP responses (TCP or no data).'),
			otherFields(d, ['id', 'source', 'target', 'protocol', 'health', 'rps', 'errorRate', 'p99',
				'bytesPerSec', 'mtls', 'waypoint', 'codes', 'color']),
		]);
	}

	/* ---- workloads view ---- */

	const workloads = { list: [], loaded: false };

	function workloadsRender() {
		const f = $('wl-filter').value.trim().toLowerCase();
		const rows = workloads.list.filter((w) => !f || JSON.stringify(w).toLowerCase().includes(f));
		$('wl-count').textContent = rows.length + ' of ' + workloads.list.length + ' workloads';
		const t = $('wl-table');
		t.replaceChildren(
			el('thead', null, el('tr', null, ['Namespace', 'Name', 'Role', 'App', 'Version', 'Identity',
				'Node', 'Enrolled', 'Waypoint'].map((h) => el('th', { text: h })))),
			el('tbody', null, rows.map((w) => el('tr', {
				class: 'clickable',
				onclick: () => openWorkloadPanel(w.namespace, w.name),
			}, [w.namespace, w.name, w.role, w.app, w.version].map((v) => el('td', { text: str(v) })),
			el('td', { class: 'mono', text: str(w.identity) }),
			el('td', { text: podNodes(w.pods).join(', ') || '—' }),
			/* Not enrolled is no fault (Kiali's "out of mesh"), nor is a namespace without its object. */
			el('td', null, w.enrolled === true ? el('span', { class: 'status valid', text: '✓' }) :
				(w.enrolled === false ? el('span', { class: 'muted nowrap', text: 'out of mesh' }) : '—')),
			el('td', { text: str(w.waypoint) })))));
	}

	async function workloadsLoad() {
		try {
			workloads.list = arr(await fetchJSON('api/workloads')).filter((w) => w && typeof w === 'object');
			showAlert($('wl-alert'), '');
		} catch (e) {
			showAlert($('wl-alert'), 'Cannot load workloads: ' + e.message);
		}
		workloadsRender();
	}

	views.workloads = {
		enter() {
			workloadsLoad();
		},
	};

	/* ---- config view ---- */

	const config = { objects: [] };

	function configRender() {
		const f = $('cfg-filter').value.trim().toLowerCase();
		const status = $('cfg-status').value;
		const rows = config.objects.filter((o) => (!status || o.status === status) &&
			(!f || [o.kind, o.namespace, o.name, o.apiVersion].join(' ').toLowerCase().includes(f)));
		const count = (s) => config.objects.filter((o) => o.status === s).length;
		$('cfg-count').textContent = config.objects.length + ' objects: ' + count('valid') + ' valid, ' +
			count('warning') + ' with warnings, ' + count('error') + ' with errors';
		const body = el('tbody');
		for (const o of rows) {
			const st = STATUS_ICONS[o.status] ? o.status : null;
			const yamlRow = el('tr', { class: 'yaml-row', hidden: '' },
				el('td', { colspan: '6' },
					el('pre', { text: typeof o.yaml === 'string' && o.yaml ? o.yaml : '(no YAML)' })));
			body.append(el('tr', { class: 'clickable', title: 'Show YAML', onclick: () => {
				yamlRow.hidden = !yamlRow.hidden;
			} },
			el('td', null, el('span', { class: 'status ' + (st || ''), title: str(o.status),
				text: st ? STATUS_ICONS[st] : '?' })),
			el('td', { text: str(o.kind) }), el('td', { text: str(o.namespace) }), el('td', { text: str(o.name) }),
			el('td', { class: 'mono', text: str(o.apiVersion) }), el('td', null, findingsList(o.findings))), yamlRow);
		}
		$('cfg-table').replaceChildren(el('thead', null, el('tr', null,
			['', 'Kind', 'Namespace', 'Name', 'API version', 'Findings'].map((h) => el('th', { text: h })))), body);
	}

	async function configLoad() {
		try {
			const resp = obj(await fetchJSON('api/config'));
			config.objects = arr(resp.objects).filter((o) => o && typeof o === 'object');
			showAlert($('cfg-alert'), '');
		} catch (e) {
			showAlert($('cfg-alert'), 'Cannot load the configuration: ' + e.message);
		}
		configRender();
	}

	views.config = {
		enter() {
			configLoad();
		},
	};

	/* ---- traces view ---- */

	/* Bars take a colour per service; red is kept for spans in error. */
	const SERVICE_COLORS = ['#0066CC', '#4CB140', '#009596', '#5752D1', '#F4C145', '#EC7A08',
		'#8BC1F7', '#23511E', '#A2D9D9', '#B2B0EA', '#6A6E73', '#F9E0A2'];
	const TRACE_LIMITS = [[20, '20'], [50, '50'], [100, '100'], [500, '500']];

	const traces = {
		service: '',
		operation: '',
		minDuration: '',
		tag: '',
		limit: 20,
		refresh: 0,
		services: [],
		list: [],
		traceID: null,
		timer: null,
		abort: null,
	};
	window.tracesLoaded = 0;
	window.traceShown = null;

	/* Microseconds as Jaeger shows them. */
	function usText(v) {
		if (!isNum(v))
			return '—';
		if (v < 1000)
			return v + 'µs';
		if (v < 1000000)
			return (v / 1000).toFixed(v < 10000 ? 2 : 1) + 'ms';
		return (v / 1000000).toFixed(2) + 's';
	}

	function usDate(v) {
		return isNum(v) ? new Date(v / 1000).toLocaleString() : '—';
	}

	function serviceColor(names, name) {
		const i = names.indexOf(name);
		return SERVICE_COLORS[(i < 0 ? 0 : i) % SERVICE_COLORS.length];
	}

	function tracesSaveHash() {
		setHashParams('traces', {
			service: traces.service || null,
			operation: traces.operation || null,
			minDuration: traces.minDuration || null,
			tag: traces.tag || null,
			limit: traces.limit === 20 ? null : traces.limit,
			refresh: traces.refresh || null,
			trace: traces.traceID,
		});
	}

	function fillFilters() {
		const known = traces.services.map((s) => str(obj(s).name));
		const names = known.includes(traces.service) || !traces.service ? known : known.concat(traces.service);
		/* The applications' services as Jaeger lists them, then the waypoints that recorded spans. */
		const proxies = new Set(traces.services.filter((s) => obj(s).proxy === true).map((s) => str(s.name)));
		const order = (a, b) => (proxies.has(a) - proxies.has(b)) || (a < b ? -1 : a > b);
		$('tr-service').replaceChildren(el('option', { value: '', text: 'all' }),
			...names.sort(order).map((n) => el('option', { value: n, text: proxies.has(n) ? n + ' (waypoint)' : n })));
		$('tr-service').value = traces.service;
		const svc = traces.services.find((s) => obj(s).name === traces.service);
		const ops = traces.service ? arr(obj(svc).operations).map(String) : [];
		if (traces.operation && !ops.includes(traces.operation))
			ops.push(traces.operation);
		$('tr-operation').replaceChildren(el('option', { value: '', text: 'all' }),
			...ops.sort().map((n) => el('option', { value: n, text: n })));
		$('tr-operation').value = traces.operation;
		$('tr-min').value = traces.minDuration;
		$('tr-tag').value = traces.tag;
		fillSelect($('tr-limit'), TRACE_LIMITS.some(([v]) => v === traces.limit) ? TRACE_LIMITS :
			TRACE_LIMITS.concat([[traces.limit, String(traces.limit)]]), traces.limit);
		fillSelect($('tr-refresh'), REFRESHES, traces.refresh);
	}

	function tracesRender() {
		const shown = traces.list.length;
		$('tr-count').textContent = shown + (shown === 1 ? ' trace' : ' traces') +
			(shown >= traces.limit ? ' (the newest ' + traces.limit + ')' : '');
		const body = el('tbody');
		for (const t of traces.list) {
			const errors = isNum(t.errors) ? t.errors : 0;
			body.append(el('tr', {
				class: 'clickable' + (t.traceID === traces.traceID ? ' current' : ''),
				dataset: { traceId: str(t.traceID) },
				onclick: () => traceOpen(t.traceID),
			},
			el('td', { class: 'nowrap', text: usDate(t.start) }),
			el('td', null, el('b', { text: str(t.rootService) }), ': ' + str(t.rootName)),
			el('td', { text: usText(t.duration) }),
			el('td', { text: str(t.spans) }),
			el('td', null, errors > 0 ? el('span', { class: 'err-mark', title: errors + ' in error',
				text: '● ' + errors }) : ''),
			el('td', null, objs(t.services).map((s) => el('span', { class: 'chip', text: str(s.name) +
				' (' + str(s.spans) + ')' }))),
			el('td', { class: 'mono', text: str(t.traceID).slice(0, 12) })));
		}
		$('tr-table').replaceChildren(el('thead', null, el('tr', null,
			['Start', 'Root', 'Duration', 'Spans', 'Errors', 'Services', 'Trace'].map((h) => el('th', { text: h })))),
		body);
		if (!shown)
			body.append(el('tr', null, el('td', { colspan: '7', class: 'muted',
				text: 'No traces match. Spans are received at POST /v1/traces (OTLP) and /api/v2/spans (Zipkin).' })));
	}

	function tracesSchedule() {
		clearTimeout(traces.timer);
		traces.timer = null;
		if (currentView === 'traces' && traces.refresh > 0)
			traces.timer = setTimeout(tracesLoad, traces.refresh * 1000);
	}

	/* The services and their operations, then the matching traces: the filters stay current. */
	async function tracesLoad() {
		clearTimeout(traces.timer);
		if (traces.abort)
			traces.abort.abort();
		const ctl = new AbortController();
		traces.abort = ctl;
		try {
			traces.services = objs(await fetchJSON('api/traces/services', ctl.signal));
			const list = await fetchJSON('api/traces?' + query({
				service: traces.service || null,
				operation: traces.operation || null,
				minDuration: traces.minDuration || null,
				tag: traces.tag || null,
				limit: traces.limit,
			}), ctl.signal);
			if (ctl.signal.aborted)
				return;
			traces.list = objs(list);
			showAlert($('tr-alert'), '');
		} catch (e) {
			if (ctl.signal.aborted)
				return;
			traces.list = [];
			showAlert($('tr-alert'), 'Cannot load traces: ' + e.message);
		}
		if (traces.abort === ctl)
			traces.abort = null;
		fillFilters();
		tracesRender();
		window.tracesLoaded++;
		if (traces.traceID && window.traceShown !== traces.traceID)
			traceOpen(traces.traceID);
		tracesSchedule();
	}

	/* The spans as a tree in time order: each after its parent, siblings by start. */
	function spanTree(spans) {
		const byId = new Map(spans.map((sp) => [sp.spanID, sp]));
		const children = new Map();
		const roots = [];
		for (const sp of spans) {
			const p = sp.parentSpanID;
			if (p && byId.has(p) && p !== sp.spanID) {
				if (!children.has(p))
					children.set(p, []);
				children.get(p).push(sp);
			} else {
				roots.push(sp);
			}
		}
		const byStart = (a, b) => (a.start || 0) - (b.start || 0);
		const out = [];
		const seen = new Set();
		/* Iterative: a trace may nest deeper than the stack would like. */
		const stack = roots.sort(byStart).reverse().map((sp) => [sp, 0]);
		while (stack.length) {
			const [sp, depth] = stack.pop();
			if (seen.has(sp))
				continue;
			seen.add(sp);
			out.push({ span: sp, depth });
			const kids = (children.get(sp.spanID) || []).slice().sort(byStart);
			for (let i = kids.length - 1; i >= 0; i--)
				stack.push([kids[i], depth + 1]);
		}
		/* Spans in a cycle of parents: shown at the end, unnested. */
		for (const sp of spans)
			if (!seen.has(sp))
				out.push({ span: sp, depth: 0 });
		return out;
	}

	function traceRender(t) {
		const spans = objs(t.spans).filter((sp) => typeof sp.spanID === 'string');
		const names = objs(t.services).map((s) => s.name);
		const t0 = isNum(t.start) ? t.start : Math.min(...spans.map((sp) => sp.start || 0));
		const total = Math.max(1, isNum(t.duration) ? t.duration : 1);
		$('tr-head').replaceChildren(
			el('h2', null, str(t.rootService) + ': ' + str(t.rootName)),
			el('span', { class: 'muted', text: usDate(t.start) + ' · ' + usText(t.duration) + ' · ' +
				spans.length + ' spans' + (t.errors ? ' · ' : '') }),
			/* replaceChildren writes a null as "null". */
			t.errors ? el('span', { class: 'err-mark', text: t.errors + ' in error' }) : '',
			' ',
			...names.map((n) => el('span', { class: 'chip', style: 'border-left-color:' + serviceColor(names, n),
				text: n })),
			el('span', { class: 'muted mono', text: ' ' + str(t.traceID) }));
		const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) =>
			el('span', { style: 'left:' + (f * 100) + '%', text: usText(Math.round(f * total)) }));
		const rows = [el('div', { class: 'wf-axis' }, el('div', { class: 'wf-label', text: 'Service: operation' }),
			el('div', { class: 'wf-ticks' }, ticks))];
		for (const { span: sp, depth } of spanTree(spans)) {
			const color = serviceColor(names, sp.service);
			const left = Math.max(0, Math.min(100, ((sp.start || 0) - t0) / total * 100));
			const width = Math.max(0, Math.min(100 - left, (sp.duration || 0) / total * 100));
			/* The duration after the bar, or before it, or on it when the bar fills the row. */
			const durPlace = left + width <= 85 ? 'after' : (left >= 15 ? 'before' : 'inside');
			const detail = el('div', { class: 'wf-detail', hidden: '' },
				fields([['Span', el('span', { class: 'mono', text: sp.spanID })],
					['Parent', el('span', { class: 'mono', text: str(sp.parentSpanID) })],
					['Kind', sp.kind], ['Service', sp.service]].concat(sp.proxy ? [['Recorded by', sp.proxy]] : [], [
					['Start', '+' + usText((sp.start || 0) - t0)], ['Duration', usText(sp.duration)],
					['Error', sp.error === true]])),
				table(['Tag', 'Value'], objs(sp.tags).map((g) => [el('span', { class: 'mono', text: str(g.key) }),
					str(g.value)]), 'No tags.'));
			const row = el('div', {
				class: 'wf-row',
				dataset: { spanId: sp.spanID, depth: String(depth), name: str(sp.name), service: str(sp.service) },
				title: str(sp.service) + (sp.proxy ? ' (' + str(sp.proxy) + ')' : '') + ': ' + str(sp.name) +
					' (' + usText(sp.duration) + ')',
				onclick: () => {
					detail.hidden = !detail.hidden;
					row.classList.toggle('open', !detail.hidden);
				},
			},
			el('div', { class: 'wf-label', style: 'padding-left:' + (8 + Math.min(depth, 30) * 14) + 'px' },
				sp.error ? el('span', { class: 'err-mark', title: 'error', text: '●' }) : null,
				el('span', { class: 'svc', style: 'border-left-color:' + color, text: str(sp.service) }),
				str(sp.name)),
			el('div', { class: 'wf-track' },
				el('div', { class: 'wf-bar' + (sp.error ? ' error' : ''),
					style: 'left:' + left + '%;width:' + width + '%;background:' + color }),
				el('span', { class: 'wf-dur' + (durPlace === 'inside' ? ' inside' : ''),
					style: durPlace === 'after' ? 'left:calc(' + (left + width) + '% + 4px)' :
						'right:calc(' + (durPlace === 'before' ? 100 - left : 100 - left - width) + '% + 4px)',
					text: usText(sp.duration) })));
			rows.push(row, detail);
		}
		$('tr-waterfall').replaceChildren(...rows);
	}

	async function traceOpen(id) {
		traces.traceID = id;
		tracesSaveHash();
		for (const tr of document.querySelectorAll('#tr-table tbody tr'))
			tr.classList.toggle('current', tr.dataset.traceId === id);
		try {
			const t = obj(await fetchJSON('api/traces/' + encodeURIComponent(id)));
			if (traces.traceID !== id)
				return;
			traceRender(t);
			showAlert($('tr-alert'), '');
		} catch (e) {
			if (traces.traceID !== id)
				return;
			$('tr-head').replaceChildren(el('span', { class: 'muted', text: 'Trace ' + id + ' is not available.' }));
			$('tr-waterfall').replaceChildren();
			showAlert($('tr-alert'), 'Cannot load the trace: ' + e.message);
		}
		window.traceShown = id;
	}

	function tracesInit() {
		const search = () => {
			traces.service = $('tr-service').value;
			traces.operation = $('tr-operation').value;
			traces.minDuration = $('tr-min').value.trim();
			traces.tag = $('tr-tag').value.trim();
			tracesSaveHash();
			tracesLoad();
		};
		$('tr-service').addEventListener('change', () => {
			$('tr-operation').value = '';
			search();
		});
		$('tr-operation').addEventListener('change', search);
		$('tr-search').addEventListener('click', search);
		for (const id of ['tr-min', 'tr-tag'])
			$(id).addEventListener('keydown', (ev) => {
				if (ev.key === 'Enter')
					search();
			});
		$('tr-limit').addEventListener('change', (ev) => {
			traces.limit = Number(ev.target.value);
			search();
		});
		$('tr-refresh').addEventListener('change', (ev) => {
			traces.refresh = Number(ev.target.value);
			tracesSaveHash();
			tracesSchedule();
		});
	}

	views.traces = {
		enter(params) {
			/* A bare #/traces (the nav link) keeps the current choices. */
			if (Array.from(params.keys()).length) {
				traces.service = params.get('service') || '';
				traces.operation = params.get('operation') || '';
				traces.minDuration = params.get('minDuration') || '';
				traces.tag = params.get('tag') || '';
				traces.limit = positiveInt(params.get('limit'), 20) || 20;
				traces.refresh = positiveInt(params.get('refresh'), 0);
				const id = params.get('trace');
				if (id !== traces.traceID) {
					traces.traceID = id;
					window.traceShown = null;
					$('tr-head').replaceChildren(el('span', { class: 'muted',
						text: 'Choose a trace above to see its spans.' }));
					$('tr-waterfall').replaceChildren();
				}
			}
			tracesSaveHash();
			fillFilters();
			tracesLoad();
		},
		leave() {
			clearTimeout(traces.timer);
			traces.timer = null;
			if (traces.abort)
				traces.abort.abort();
		},
	};

	/*
	 * The Traces view for a graph node's service. Istio names a proxy's spans by the workload's
	 * app and namespace ("reviews.default"); the names the spans really carry are asked first,
	 * and the first of the candidates among them is chosen.
	 */
	function tracesLink(candidates) {
		const names = candidates.filter(Boolean);
		if (!names.length)
			return null;
		const href = '#/traces?' + query({ service: names[0] });
		return el('a', {
			href,
			dataset: { tracesLink: names[0] },
			onclick: async (ev) => {
				ev.preventDefault();
				let chosen = names[0];
				try {
					const seen = objs(await fetchJSON('api/traces/services')).map((s) => s.name);
					chosen = names.find((n) => seen.includes(n)) || chosen;
				} catch (e) {
					/* The first guess will do. */
				}
				location.hash = '#/traces?' + query({ service: chosen });
			},
		}, 'Traces of ' + names[0]);
	}

	/* The service names a node's spans may carry, likeliest first. */
	function traceServices(d) {
		const ns = d.namespace;
		const base = d.kind === 'service' ? d.name : (d.app || d.name);
		if (!base || d.role === 'unknown')
			return [];
		return ns ? [base + '.' + ns, base, d.name + '.' + ns] : [base];
	}

	/* ---- start ---- */

	async function loadHealth() {
		try {
			const h = obj(await fetchJSON('api/health'));
			$('cluster').textContent = h.cluster ? 'cluster: ' + h.cluster : 'cluster: —';
			$('api-health').className = 'health-dot ' + (h.ok === false ? 'bad' : 'ok');
			$('api-health').title = 'dashboard API ' + (h.ok === false ? 'not ok' : 'ok') +
				(h.prometheus ? '; Prometheus at ' + h.prometheus : '');
		} catch (e) {
			$('cluster').textContent = 'cluster: unreachable';
			$('api-health').className = 'health-dot bad';
			$('api-health').title = e.message;
		}
	}

	$('panel-close').addEventListener('click', panelClose);
	document.addEventListener('keydown', (ev) => {
		if (ev.key === 'Escape')
			panelClose();
	});
	$('wl-filter').addEventListener('input', workloadsRender);
	$('wl-reload').addEventListener('click', workloadsLoad);
	$('cfg-filter').addEventListener('input', configRender);
	$('cfg-status').addEventListener('change', configRender);
	$('cfg-reload').addEventListener('click', configLoad);
	tracesInit();
	/* Grafana's dashboards: grafana.js draws them. */
	views.dashboards = {
		enter: (params) => window.ambitGrafana.enter(params),
		leave: () => window.ambitGrafana.leave(),
	};
	window.addEventListener('hashchange', route);
	loadHealth();
	route();
}());
