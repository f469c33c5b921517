// How long Chromium takes to open a large report (issue 14: "how large a
// report for a 100,000-object store with 1,000 findings is and how long
// it takes to open").  A figure, not a test: nothing is asserted.
//
//   node tests/browser/large-report.mjs [ATREST_BIN]
//
// Three pages, each opened ROUNDS times (default 3; the median is printed):
//  - synthetic.html: a hand-made page that follows the report's DOM
//    contract, ~5 MB: 1,000 finding rows, 9 checks, and charts with
//    25,000 data points and their data tables (25 charts of 1,000);
//  - findings-only.html: the same without the charts (what 1,000 finding
//    rows cost on their own);
//  - rendered.html: `atrest report` of a verify report of a 100,000-object
//    store with 1,000 findings kept (made here, atrest-verify/1), so the
//    figure for the real page is measured once the page is written.
// For each: the file's size, the time to load (navigation to the load
// event; the first contentful paint as the page measured it, NaN when
// headless Chromium had painted nothing yet), to lay out and paint a
// full-page screenshot, and to print A4.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { launch, open } from './browser.mjs';
import { capped } from './synth.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(join(here, '../..'));
const ATREST = resolve(process.argv[2] || process.env.ATREST_BIN || join(ROOT, 'build/atrest'));
const ROUNDS = Number(process.env.ROUNDS || 3);
const FINDINGS = 1000;
const OBJECTS = 100000;

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function syntheticHtml(v, charts) {
	const out = [];
	out.push('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
		'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; img-src data:">',
		'<title>large</title><style>body{font:14px system-ui;margin:1rem}td{border:1px solid #888;padding:2px 4px;overflow-wrap:anywhere}',
		'table{border-collapse:collapse}svg{max-width:100%;height:auto}',
		'@media (prefers-color-scheme: dark){body{background:#111;color:#eee}}</style></head><body><main>',
		'<h1>large report</h1><header class="run">2026-12-03T00:00:00Z atrest 0.1.0 large.json</header>',
		'<nav class="toc"><a href="#v1">verify</a> <a href="#b">bench</a></nav>',
		'<section class="verify" id="v1" data-verdict="FAIL"><h2>Verify</h2>',
		'<p class="verdict" data-verdict="FAIL"><strong>FAIL</strong> exit status 1</p>',
		`<section class="proven"><table><tr><th>objects</th><td>${OBJECTS}</td></tr></table></section>`);
	for (const c of v.checks) {
		out.push(`<section class="check" id="v1-check-${c.id}" data-check="${c.id}" data-status="${c.status}">`,
			`<h3>${esc(c.id)}: ${esc(c.title)} - ${c.status.toUpperCase()}</h3>`);
		if (c.findings.length > 0) {
			out.push('<table class="findings"><tr><th>code</th><th>severity</th><th>path</th><th>offset</th><th>message</th><th>fix</th></tr>');
			for (const f of c.findings)
				out.push(`<tr class="finding" data-code="${esc(f.code)}" data-severity="${f.severity}"><td>${esc(f.code)}</td><td>${f.severity}</td>`,
					`<td>${esc(f.path)}</td><td>${f.offset ?? ''}</td><td>${esc(f.message)}</td>`,
					'<td>re-wrap the object for a customer-managed key (atrest rewrap --to KEY), then verify again; see docs/VERIFY.md, recipients</td></tr>');
			out.push('</table>');
			const total = c.errors + c.warnings + c.infos;
			if (total > c.findings.length)
				out.push(`<p>showing ${c.findings.length} of ${total} findings</p>`);
		}
		out.push('</section>');
	}
	out.push('</section><section class="bench" id="b"><h2>Bench</h2><table class="env"><tr><td>cores</td><td>2</td></tr></table><table class="limits"><tr><td>x</td></tr></table>');
	// Charts: CHARTS figures of 1,000 points each, with their data tables.
	for (let f = 0; f < charts; f++) {
		out.push(`<figure class="chart" data-chart="latency-cdf"><svg role="img" aria-labelledby="c${f}" viewBox="0 0 1000 400" width="1000" height="400"><title id="c${f}">chart ${f}</title>`);
		const rows = [];
		for (let i = 0; i < 1000; i++) {
			const x = (i * 0.731).toFixed(3);
			const y = (i / 1000).toFixed(4);
			out.push(`<circle class="pt" cx="${i}" cy="${400 - i * 0.4}" r="1.5" data-x="${x}" data-y="${y}" data-series="series ${f % 4} cell ${f}"/>`);
			rows.push(`<tr><td>series ${f % 4} cell ${f}</td><td>${x}</td><td>${y}</td></tr>`);
		}
		out.push(`</svg><figcaption>chart ${f}</figcaption><details><summary>data</summary><table class="chart-data">${rows.join('')}</table></details></figure>`);
	}
	out.push('</section></main></body></html>\n');
	return out.join('\n');
}

async function time(browser, file) {
	const r = { load: [], fcp: [], paint: [], print: [] };
	for (let i = 0; i < ROUNDS; i++) {
		let t = performance.now();
		const o = await open(browser, file);
		r.load.push(performance.now() - t);
		// First contentful paint, from the page's navigation start.
		r.fcp.push(await o.page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN));
		if (o.requests.length > 0)
			console.log(`  note: the page requested ${o.requests.length} URL(s)`);
		t = performance.now();
		await o.page.screenshot({ path: join(tmp, 'shot.png'), fullPage: true });
		r.paint.push(performance.now() - t);
		t = performance.now();
		await o.page.pdf({ path: join(tmp, 'page.pdf'), format: 'A4' });
		r.print.push(performance.now() - t);
		await o.page.close();
	}
	const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
	const rows = await (async () => {
		const o = await open(browser, file);
		const n = await o.page.evaluate(() => [document.querySelectorAll('tr.finding').length, document.querySelectorAll('.pt,.bar').length, document.querySelectorAll('*').length]);
		await o.page.close();
		return n;
	})();
	const size = statSync(file).size;
	console.log(`${file.replace(tmp + '/', '')}: ${(size / 1e6).toFixed(2)} MB, ${rows[0]} finding rows, ${rows[1]} data points, ${rows[2]} elements; ` +
		`median of ${ROUNDS}: load ${med(r.load).toFixed(0)} ms (first contentful paint ${med(r.fcp).toFixed(0)} ms), full-page screenshot ${med(r.paint).toFixed(0)} ms, A4 PDF ${med(r.print).toFixed(0)} ms`);
}

const tmp = mkdtempSync(join(tmpdir(), 'atrest-large-'));
try {
	const v = capped(JSON.parse(readFileSync(join(here, 'fixtures/verify-fail.json'), 'utf8')), OBJECTS, FINDINGS);
	writeFileSync(join(tmp, 'verify-100k.json'), JSON.stringify(v));
	writeFileSync(join(tmp, 'synthetic.html'), syntheticHtml(v, 25));
	writeFileSync(join(tmp, 'findings-only.html'), syntheticHtml(v, 0));
	let t = performance.now();
	const r = spawnSync(ATREST, ['report', '-o', join(tmp, 'rendered.html'), join(tmp, 'verify-100k.json')], { encoding: 'utf8' });
	const render = performance.now() - t;
	if (r.status !== 0)
		throw new Error(`atrest report: exit ${r.status}: ${r.stderr}`);
	console.log(`verify-100k.json: ${(statSync(join(tmp, 'verify-100k.json')).size / 1e6).toFixed(2)} MB (${OBJECTS} objects, ${FINDINGS} findings kept); atrest report: ${render.toFixed(0)} ms`);
	t = performance.now();
	const browser = await launch();
	console.log(`chromium start: ${(performance.now() - t).toFixed(0)} ms`);
	try {
		await time(browser, join(tmp, 'synthetic.html'));
		await time(browser, join(tmp, 'findings-only.html'));
		await time(browser, join(tmp, 'rendered.html'));
	} finally {
		await browser.close();
	}
} finally {
	rmSync(tmp, { recursive: true, force: true });
}
