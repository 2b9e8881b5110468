/*
 * ambitctl dashboard: what every view of the page builds its DOM with (app.js's graph, lists and
 * traces; grafana.js's and grafana_panels.js's dashboards).
 */
'use strict';

window.ambitDom = (function () {
	/*
	 * el('tag', {class, text, title, onclick, dataset, ...attributes}, ...children): the element;
	 * null, undefined and false attributes and children are skipped, arrays of children flattened.
	 */
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

	return { el };
})();
