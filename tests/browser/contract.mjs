// The report page's DOM contract (docs/REPORT.md, tests/browser/README.md),
// checked from the input JSON documents: what the page must show follows
// from what the documents hold.  Each function returns a list of problems,
// one line each; an empty list is a pass.  The tests plant defects in a
// copy of fixtures/contract.html to prove every check can fail.

// The static HTML: nothing may load from anywhere.  Text may mention a
// URL (a vault key's URI is https://...), so only the places a browser
// would fetch from are looked at: src/href-like attributes, CSS url()
// and @import, <link>, <base>, and embedding elements.
export function staticProblems(html) {
	const p = [];
	const attr = /\s(src|href|srcset|action|formaction|poster|data|xlink:href|background|ping|manifest|codebase|cite)\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+))/gi;
	for (const m of html.matchAll(attr)) {
		const v = (m[3] ?? m[4] ?? m[5] ?? '').trim();
		const name = m[1].toLowerCase();
		if (name === 'href' && v.startsWith('#'))
			continue;
		if ((name === 'src' || name === 'href') && /^data:/i.test(v))
			continue;
		p.push(`static: ${name}="${v.slice(0, 60)}" can load something`);
	}
	for (const m of html.matchAll(/url\(\s*(['"]?)([^'")]*)/gi))
		if (!/^(data:|#)/i.test(m[2].trim()))
			p.push(`static: CSS url(${m[2].slice(0, 60)}) can load something`);
	if (/@import/i.test(html))
		p.push('static: CSS @import');
	for (const tag of ['link', 'base', 'iframe', 'frame', 'object', 'embed', 'audio', 'video', 'source', 'track', 'form'])
		if (new RegExp(`<${tag}[\\s>/]`, 'i').test(html))
			p.push(`static: a <${tag}> element`);
	for (const m of html.matchAll(/<img\b[^>]*>/gi))
		if (!/\ssrc\s*=\s*["']?data:/i.test(m[0]))
			p.push(`static: an <img> without a data: URI: ${m[0].slice(0, 80)}`);
	if (!/<meta\s+http-equiv="Content-Security-Policy"\s+content="default-src 'none'/i.test(html))
		p.push("static: no Content-Security-Policy meta with default-src 'none'");
	return p;
}

// Runs in the page (page.evaluate): the DOM against the documents.
// docs: [{kind: 'verify'|'bench'|'revocation', name, json}] in the order
// given on the command line; version: atrest's version string.  It is
// sent to the page as source, so it uses nothing from this module.
export function domProblems(docs, version) {
	const p = [];
	// The verdict a verify report's summary.status stands for.
	const verdictOf = (json) => String(json.summary.status).toUpperCase();
	const txt = (el) => (el ? el.textContent.replace(/\s+/g, ' ').trim() : '');
	const num = (v) => v !== null && v !== '' && Number.isFinite(Number(v));
	const q = (root, sel) => root.querySelector(sel);
	const qa = (root, sel) => Array.from(root.querySelectorAll(sel));
	// A count as a pattern, with or without thousands separators.
	const group = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, '[,.\u202f\u00a0 ]?');

	// The page.
	const h1 = qa(document, 'h1');
	if (h1.length !== 1)
		p.push(`page: ${h1.length} <h1> elements, want 1`);
	const run = q(document, 'header.run');
	if (!run)
		p.push('page: no <header class="run">');
	else {
		if (!/\d{4}-\d{2}-\d{2}/.test(txt(run)))
			p.push('header.run: no generation time (YYYY-MM-DD...)');
		if (version && !txt(run).includes(version))
			p.push(`header.run: no atrest version "${version}"`);
		for (const d of docs)
			if (!txt(run).includes(d.name))
				p.push(`header.run: input "${d.name}" not listed`);
	}
	const toc = q(document, 'nav.toc');
	if (!toc)
		p.push('page: no <nav class="toc">');
	else {
		const links = qa(toc, 'a[href^="#"]');
		if (links.length === 0)
			p.push('nav.toc: no links');
		for (const a of links)
			if (!document.getElementById(decodeURIComponent(a.getAttribute('href').slice(1))))
				p.push(`nav.toc: link ${a.getAttribute('href')} has no target`);
		const targets = new Set(links.map((a) => a.getAttribute('href').slice(1)));
		for (const s of qa(document, 'section.verify, section.bench'))
			if (!targets.has(s.id))
				p.push(`nav.toc: no link to section #${s.id}`);
	}

	// Verify reports, in input order: v1, v2, ...
	const vdocs = docs.filter((d) => d.kind === 'verify');
	const vsecs = qa(document, 'section.verify');
	if (vsecs.length !== vdocs.length)
		p.push(`verify: ${vsecs.length} section.verify, want ${vdocs.length}`);
	vdocs.forEach((d, i) => {
		const id = `v${i + 1}`;
		const where = `verify ${id} (${d.name})`;
		const sec = document.getElementById(id);
		if (!sec || !sec.matches('section.verify')) {
			p.push(`${where}: no section.verify#${id}`);
			return;
		}
		const want = verdictOf(d.json);
		if (sec.dataset.verdict !== want)
			p.push(`${where}: data-verdict="${sec.dataset.verdict}", want ${want}`);
		const v = q(sec, 'p.verdict');
		if (!v)
			p.push(`${where}: no p.verdict`);
		else {
			if (v.dataset.verdict !== want)
				p.push(`${where}: p.verdict data-verdict="${v.dataset.verdict}", want ${want}`);
			// NOTHING-VERIFIED may read "NOTHING VERIFIED".
			const norm = (x) => x.replace(/[-\s]+/g, ' ');
			if (norm(txt(q(v, 'strong'))) !== norm(want))
				p.push(`${where}: the verdict as text is "${txt(q(v, 'strong'))}", want ${want}`);
			const es = d.json.summary.exit_code;
			// (?!\d), not \b: a <br> after the number leaves no space.
			if (!new RegExp(`exit status ${es}(?!\\d)`).test(txt(v)))
				p.push(`${where}: the verdict does not say "exit status ${es}"`);
			const first = q(sec, 'section.check');
			if (first && (v.compareDocumentPosition(first) & Node.DOCUMENT_POSITION_FOLLOWING) === 0)
				p.push(`${where}: the verdict is not before the checks`);
		}
		const proven = q(sec, 'section.proven');
		if (!proven || !q(proven, 'table'))
			p.push(`${where}: no section.proven with a table`);
		const seen = new Set();
		for (const c of d.json.checks) {
			seen.add(c.id);
			const cw = `${where} check ${c.id}`;
			const el = q(sec, `section.check[data-check="${CSS.escape(c.id)}"]`);
			if (!el) {
				p.push(`${cw}: no section.check`);
				continue;
			}
			if (el.id !== `${id}-check-${c.id}`)
				p.push(`${cw}: id="${el.id}", want ${id}-check-${c.id}`);
			if (el.dataset.status !== c.status)
				p.push(`${cw}: data-status="${el.dataset.status}", want ${c.status}`);
			const h3 = txt(q(el, 'h3'));
			if (!h3.includes(c.id) || !h3.includes(c.status.toUpperCase()))
				p.push(`${cw}: <h3> "${h3.slice(0, 80)}" does not name the check and ${c.status.toUpperCase()}`);
			const rows = qa(el, 'table.findings tr.finding');
			const fs = c.findings || [];
			if (rows.length !== fs.length)
				p.push(`${cw}: ${rows.length} finding rows, want ${fs.length}`);
			fs.forEach((f, k) => {
				const r = rows[k];
				if (!r)
					return;
				if (r.dataset.code !== f.code || r.dataset.severity !== f.severity)
					p.push(`${cw}: finding ${k + 1} is ${r.dataset.code}/${r.dataset.severity}, want ${f.code}/${f.severity}`);
				const m = String(f.message ?? '').slice(0, 60);
				if (m && /^[\x20-\x7e]*$/.test(m) && !txt(r).includes(m.replace(/\s+/g, ' ').trim()))
					p.push(`${cw}: finding ${k + 1} does not show its message`);
			});
			const total = (c.errors || 0) + (c.warnings || 0) + (c.infos || 0);
			if (total > fs.length) {
				const re = new RegExp(`showing ${group(fs.length)} of ${group(total)} findings`);
				if (!re.test(txt(el)))
					p.push(`${cw}: no "showing ${fs.length} of ${total} findings"`);
			}
		}
		for (const el of qa(sec, 'section.check'))
			if (!seen.has(el.dataset.check))
				p.push(`${where}: section.check "${el.dataset.check}" is in no check of the JSON`);
	});

	// Bench results (and revocation runs): one section.bench#b.
	const runs = docs.filter((d) => d.kind === 'bench');
	const revs = docs.filter((d) => d.kind === 'revocation');
	if (runs.length + revs.length === 0) {
		if (q(document, 'section.bench'))
			p.push('bench: a section.bench with no bench input');
		return p;
	}
	const b = document.getElementById('b');
	if (!b || !b.matches('section.bench')) {
		p.push('bench: no section.bench#b');
		return p;
	}
	const figs = qa(b, 'figure.chart');
	const kinds = new Set(['throughput', 'latency-cdf', 'phases', 'overhead', 'revocation', 'compare']);
	figs.forEach((f, i) => {
		const fw = `bench chart ${i + 1} (${f.dataset.chart})`;
		if (!kinds.has(f.dataset.chart))
			p.push(`${fw}: unknown data-chart`);
		const svgs = qa(f, 'svg');
		if (svgs.length !== 1) {
			p.push(`${fw}: ${svgs.length} <svg>, want 1`);
			return;
		}
		const svg = svgs[0];
		if (svg.getAttribute('role') !== 'img')
			p.push(`${fw}: <svg> without role="img"`);
		const lab = (svg.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean);
		if (lab.length === 0 || lab.some((x) => !document.getElementById(x)))
			p.push(`${fw}: aria-labelledby does not name elements of the page`);
		if (!txt(q(svg, 'title')))
			p.push(`${fw}: <svg> without a <title>`);
		const pts = qa(svg, 'circle.pt');
		const bars = qa(svg, 'rect.bar');
		if (pts.length + bars.length === 0)
			p.push(`${fw}: no data points (circle.pt or rect.bar)`);
		for (const c of pts)
			if (!num(c.dataset.x) || !num(c.dataset.y) || !c.dataset.series) {
				p.push(`${fw}: a circle.pt without numeric data-x/data-y and data-series`);
				break;
			}
		for (const r of bars)
			if (!num(r.dataset.value) || !r.dataset.series) {
				p.push(`${fw}: a rect.bar without numeric data-value and data-series`);
				break;
			}
		if (!txt(q(f, 'figcaption')))
			p.push(`${fw}: no <figcaption>`);
		const det = q(f, 'details');
		if (!det || !/data/i.test(txt(q(det, 'summary'))) || qa(det, 'table.chart-data td').length === 0)
			p.push(`${fw}: no <details><summary>data</summary><table class="chart-data"> with cells`);
	});
	const chart = (k) => figs.find((f) => f.dataset.chart === k);
	const need = (k, why) => {
		if (!chart(k))
			p.push(`bench: no ${k} chart (${why})`);
		return chart(k);
	};
	if (runs.length > 0) {
		if (!q(b, 'table.env'))
			p.push('bench: no table.env');
		const lim = q(b, 'table.limits');
		if (!lim)
			p.push('bench: no table.limits');
		else
			for (const l of runs[0].json.limits || [])
				if (!txt(lim).includes(l.name))
					p.push(`bench: table.limits does not show ${l.name}`);
		const cells = runs.flatMap((r) => r.json.cells || []).filter((c) => !c.skipped);
		const tp = cells.filter((c) => num(c.mb_per_s) || num(c.ops_per_s));
		if (tp.length > 0) {
			const f = need('throughput', 'cells have throughput');
			if (f) {
				const series = qa(f, '.pt, .bar').map((e) => e.dataset.series || '');
				for (const k of new Set(tp.map((c) => c.key)))
					if (!series.some((s) => s.includes(k)))
						p.push(`bench: the throughput chart has no series for key ${k}`);
				if (cells.some((c) => num(c.limit_ops_per_s)) && !q(f, 'line.limit, path.limit'))
					p.push('bench: the throughput chart has no limit line');
			}
		}
		if (cells.some((c) => Array.isArray(c.cdf_us) && c.cdf_us.length > 0))
			need('latency-cdf', 'cells have cdf_us');
		if (cells.some((c) => c.phase_us && typeof c.phase_us === 'object'))
			need('phases', 'cells have phase_us');
		if (cells.some((c) => num(c.cmk_vs_smk)))
			need('overhead', 'cells have cmk_vs_smk');
		if (runs.length >= 2) {
			const t = q(b, 'table.compare');
			const rows = t ? qa(t, 'tr[data-verdict]') : [];
			if (!t)
				p.push('bench: several runs but no table.compare');
			else if (rows.length === 0)
				p.push('bench: table.compare has no rows with data-verdict');
			for (const r of rows) {
				const v = r.dataset.verdict;
				if (!['regressed', 'improved', 'inconclusive', 'ok'].includes(v))
					p.push(`bench: compare row verdict "${v}" is not regressed|improved|inconclusive|ok`);
				else if (!new RegExp(`\\b${v}\\b`, 'i').test(txt(r))) {
					p.push(`bench: a compare row's verdict "${v}" is not shown as text`);
					break;
				}
			}
		}
	}
	if (revs.length > 0)
		need('revocation', 'a revocation run is an input');
	return p;
}
