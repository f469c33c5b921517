// `atrest report` pages in headless Chromium (issue 14, item 5): every
// check of every verify report present with its status, every chart an
// SVG with data points, nothing loaded from anywhere, hostile input shown
// as text and never run, dark and light, readable at A4 print width.
// scripts/browser-test.sh runs it (node --test); screenshots and PDFs go
// to $ARTIFACT_DIR (build/test-artifacts) and are kept.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { ARTIFACTS, inspect, launch, open } from './browser.mjs';
import { capped } from './synth.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(process.env.ATREST_ROOT || join(here, '../..'));
const ATREST = resolve(process.env.ATREST_BIN || join(ROOT, 'build/atrest'));
const FIX = join(here, 'fixtures');

// The payloads: each would set the title and __pwned if it ran.  The
// file name holds a "/" only as a directory separator, so the path as a
// whole is the script element.
const SCRIPT = "<script>document.title='PWNED';window.__pwned=1</script>";
const IMG = '<img src=x onerror="window.__pwned=2;alert(2)">';
const MSG = "<script>document.title='PWNED';window.__pwned=3</script> " +
	'<img src=x onerror="window.__pwned=4;alert(4)"> <b>bold?</b>';

let browser;
let tmp;
let version;

function run(args, opts = {}) {
	const r = spawnSync(ATREST, args, { cwd: tmp, encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
	if (r.error)
		throw r.error;
	return r;
}

function report(out, inputs, extra = []) {
	const r = run(['report', '-o', out, ...extra, ...inputs]);
	assert.equal(r.status, 0, `atrest report ${inputs.join(' ')}: exit ${r.status}: ${r.stderr}`);
	return out;
}

function doc(path, kind) {
	const json = JSON.parse(readFileSync(resolve(tmp, path), 'utf8'));
	return { kind: kind || (json.schema === 'atrest-verify/1' ? 'verify' : 'bench'), name: basename(path), json };
}

function noProblems(p) {
	assert.deepEqual(p, [], `the page has problems:\n  ${p.join('\n  ')}`);
}

before(async () => {
	tmp = mkdtempSync(join(tmpdir(), 'atrest-browser-'));
	version = run(['--version']).stdout.trim().replace(/^atrest\s+/, '');
	browser = await launch();

	// A store under an SMK (verify FAILs: recipients.smk-only) and one
	// under a local RSA-3072 CMK, verified with --json.
	const demo = join(ROOT, 'fixtures/demo');
	assert.equal(run(['keygen', '--type', 'aes-256', '-o', 'smk.key']).status, 0);
	assert.equal(run(['keygen', '--type', 'rsa-3072', '-o', 'cmk.pem']).status, 0);
	assert.equal(run(['encrypt', '-q', '--key', 'file:smk.key', '-o', 'smk-store', demo]).status, 0);
	assert.equal(run(['encrypt', '-q', '--key', 'file:cmk.pem.pub', '-o', 'cmk-store', demo]).status, 0);
	const v1 = run(['verify', '--key', 'file:smk.key', '--json', 'verify-smk.json', 'smk-store']);
	const v2 = run(['verify', '--key', 'file:cmk.pem', '--json', 'verify-cmk.json', 'cmk-store']);
	assert.ok(v1.status === 1 && v2.status !== 2, `verify: exit ${v1.status}, ${v2.status}: ${v1.stderr}${v2.stderr}`);
	// An empty store: NOTHING-VERIFIED (exit 2), most checks skipped.
	mkdirSync(join(tmp, 'empty-store'));
	const v3 = run(['verify', '--key', 'file:smk.key', '--json', 'verify-empty.json', 'empty-store']);
	assert.equal(v3.status, 2, `verify of an empty store: exit ${v3.status}: ${v3.stderr}`);
	copyFileSync(join(ROOT, 'results/baseline.json'), join(tmp, 'baseline.json'));
	copyFileSync(join(ROOT, 'results/baseline.json'), join(tmp, 'rerun.json'));
});

after(async () => {
	if (browser)
		await browser.close();
	if (tmp && !process.env.KEEP_TMP)
		rmSync(tmp, { recursive: true, force: true });
});

test('the checks pass on the hand-written contract page', async () => {
	const docs = [
		{ kind: 'verify', name: 'verify-fail.json', json: JSON.parse(readFileSync(join(FIX, 'verify-fail.json'), 'utf8')) },
		{ kind: 'bench', name: 'bench-small.json', json: JSON.parse(readFileSync(join(FIX, 'bench-small.json'), 'utf8')) },
	];
	noProblems(await inspect(browser, join(FIX, 'contract.html'), docs, { name: 'fixture-contract', version }));
});

test('the checks pass on the contract page as a comparison of two runs', async () => {
	const bench = JSON.parse(readFileSync(join(FIX, 'bench-small.json'), 'utf8'));
	const docs = [
		{ kind: 'verify', name: 'verify-fail.json', json: JSON.parse(readFileSync(join(FIX, 'verify-fail.json'), 'utf8')) },
		{ kind: 'bench', name: 'bench-small.json', json: bench },
		{ kind: 'bench', name: 'bench-small.json', json: bench },
	];
	noProblems(await inspect(browser, join(FIX, 'contract.html'), docs, { version }));
});

// Each defect planted in a copy of the contract page (or in the documents
// it is checked against), and what must catch it.
const PLANTED = [
	['a check with the wrong status', (h) => h.replace('data-check="policy" data-status="warn"', 'data-check="policy" data-status="pass"'), /check policy: data-status="pass", want warn/],
	['a check missing', (h) => h.replace(/<section class="check" id="v1-check-tamper".*?<\/section>/s, ''), /check tamper: no section\.check/],
	['status by colour only', (h) => h.replace('- WARN</h3>', '</h3>'), /check policy: <h3>/],
	['the verdict not as text', (h) => h.replace('<strong>FAIL</strong>', '<strong></strong>'), /the verdict as text/],
	['a finding missing', (h) => h.replace(/<tr class="finding" data-code="recipients.smk-only"[^\n]*store\/empty.txt[^\n]*\n/, ''), /check recipients: 3 finding rows, want 4/],
	['a chart without data points', (h) => h.replace(/<circle class="pt"[^>]*data-series="(smk|rsa-3072) per-object 1024"\/>\n/g, ''), /latency-cdf\): no data points/],
	['a key missing from the throughput chart', (h) => h.replace(/<circle class="pt"[^>]*data-series="rsa-3072 per-object"\/>\n/g, ''), /no series for key rsa-3072/],
	['a chart missing', (h) => h.replace(/<figure class="chart" data-chart="overhead">.*?<\/figure>/s, ''), /no overhead chart/],
	['a limit missing', (h) => h.replace('<tr><td>rsa-3072-public</td><td>24346</td></tr>', ''), /table\.limits does not show rsa-3072-public/],
	['an external image', (h) => h.replace('</main>', '<img src="https://example.invalid/x.png" alt=""></main>'), /static: src="https:\/\/example\.invalid.*network: the page requested https:\/\/example\.invalid/s],
	['an external style sheet', (h) => h.replace('</style>', '</style><link rel="stylesheet" href="//example.invalid/x.css">'), /static: href=.*network: the page requested/s],
	['a script that runs', (h) => h.replace('</main>', '<script>alert("ran")</script></main>'), /script: a dialog opened \(alert: ran\)/],
	['content only with JavaScript', (h) => h.replace('</main>', '<script>document.querySelector(\'section.check[data-check="rotation"]\').remove()</script></main>').replace('id="v1-check-rotation" data-check="rotation" data-status="pass"', 'id="v1-check-rotation" data-check="rotation" data-status="skip"'), /without JavaScript: .*check rotation: data-status="skip", want pass/],
	['no dark mode', (h) => h.replace(/@media \(prefers-color-scheme: dark\).*\n/, ''), /style: the background is .* in both light and dark mode/],
	['too wide to print', (h) => h.replace('</main>', '<pre>' + 'x'.repeat(400) + '</pre></main>'), /print: \d+ px wide at A4 width/],
	// 500 px fits the default 718 px, not 210 - 2 x 60 mm = 90 mm = 340 px.
	['too wide for its own @page margins', (h) => h.replace('</style>', '@page { size: A4; margin: 10mm 60mm; }</style>')
		.replace('</main>', '<div style="width: 500px">x</div></main>'), /print: \d+ px wide at A4 width \(340 px\)/],
	['no CSP', (h) => h.replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/, ''), /no Content-Security-Policy/],
	// Defects that show only against other documents: the page stays.
	['findings capped without saying so', (h) => h, /check recipients: no "showing 4 of 10 findings"/,
		(d) => { d[0].json.checks[1].errors = 10; }],
	['the verdict of another status', (h) => h, /data-verdict="FAIL", want WARN/,
		(d) => { d[0].json.summary.status = 'warn'; }],
	['several runs, no comparison', (h) => h.replace(/<table class="compare">.*?<\/table>/s, ''), /several runs but no table\.compare/,
		(d) => { d.push({ ...d[1], name: 'bench-small.json' }); }],
	['a comparison verdict by colour only', (h) => h.replace('<td>inconclusive</td></tr>', '<td></td></tr>'), /compare row's verdict "inconclusive" is not shown as text/,
		(d) => { d.push({ ...d[1], name: 'bench-small.json' }); }],
];

test('the checks catch planted defects', async (t) => {
	const good = readFileSync(join(FIX, 'contract.html'), 'utf8');
	const docs = [
		{ kind: 'verify', name: 'verify-fail.json', json: JSON.parse(readFileSync(join(FIX, 'verify-fail.json'), 'utf8')) },
		{ kind: 'bench', name: 'bench-small.json', json: JSON.parse(readFileSync(join(FIX, 'bench-small.json'), 'utf8')) },
	];
	for (const [what, plant, want, plantDocs] of PLANTED) {
		await t.test(what, async () => {
			const bad = plant(good);
			if (!plantDocs)
				assert.notEqual(bad, good, `the defect "${what}" was not planted (the fixture changed?)`);
			const d = structuredClone(docs);
			if (plantDocs)
				plantDocs(d);
			const f = join(tmp, 'planted.html');
			writeFileSync(f, bad);
			const p = await inspect(browser, f, d, { version });
			assert.match(p.join('\n'), want, `planted "${what}": got\n  ${p.join('\n  ')}`);
		});
	}
});

test('verify reports (FAIL, CMK, nothing verified) and a bench run', async () => {
	const inputs = ['verify-smk.json', 'verify-cmk.json', 'verify-empty.json', 'baseline.json'];
	const out = report(join(tmp, 'verify-bench.html'), inputs);
	const docs = inputs.map((f) => doc(f));
	noProblems(await inspect(browser, out, docs, { name: 'report-verify-bench', version }));
});

test('a capped report: 100,000 objects, 1,000 findings kept', async () => {
	const v = capped(JSON.parse(readFileSync(join(tmp, 'verify-smk.json'), 'utf8')), 100000, 1000);
	writeFileSync(join(tmp, 'verify-100k.json'), JSON.stringify(v));
	const out = report(join(tmp, 'capped.html'), ['verify-100k.json']);
	noProblems(await inspect(browser, out, [doc('verify-100k.json')], { version }));
});

test('two bench runs are compared', async () => {
	const out = report(join(tmp, 'compare.html'), ['baseline.json', 'rerun.json']);
	const docs = ['baseline.json', 'rerun.json'].map((f) => doc(f));
	noProblems(await inspect(browser, out, docs, { name: 'report-compare', version }));
});

test('a hostile file name and finding message show as text and run nothing', async () => {
	// The verify report of the SMK store with the payloads planted in a
	// finding's path, subject and message, saved under a file name that
	// is itself a script element and one that is an <img onerror>.
	const v = JSON.parse(readFileSync(join(tmp, 'verify-smk.json'), 'utf8'));
	const c = v.checks.find((x) => x.findings && x.findings.length > 0);
	c.findings[0].message = MSG;
	c.findings[0].path = `store/${IMG}`;
	c.findings[0].subject = IMG;
	v.config.stores[0].path = SCRIPT;
	const d1 = join(tmp, SCRIPT.slice(0, SCRIPT.indexOf('/')));
	mkdirSync(d1, { recursive: true });
	const f1 = join(tmp, SCRIPT + '.json');
	const f2 = join(tmp, IMG + '.json');
	writeFileSync(f1, JSON.stringify(v));
	writeFileSync(f2, JSON.stringify(v));
	const out = report(join(tmp, 'hostile.html'), [f1, f2]);
	const html = readFileSync(out, 'utf8');
	assert.doesNotMatch(html, /<script>document\.title/i, 'a planted <script> is markup in the page');
	assert.doesNotMatch(html, /<img src=x/i, 'a planted <img> is markup in the page');

	// Once with the CSP bypassed, so the escaping alone is what stops the
	// payloads, then as served (with its CSP).
	for (const bypassCSP of [true, false]) {
		const o = await open(browser, out, { bypassCSP });
		try {
			// Closed <details> and content-visibility: auto (sections
			// off screen are not rendered) hide text from innerText: open
			// and show everything first.
			const s = await o.page.evaluate(() => {
				document.querySelectorAll('details').forEach((d) => { d.open = true; });
				const st = document.createElement('style');
				st.textContent = '* { content-visibility: visible !important; }';
				document.head.append(st);
				return {
					title: document.title, pwned: window.__pwned, text: document.body.innerText,
					bold: Array.from(document.querySelectorAll('b')).filter((b) => b.textContent === 'bold?').length,
				};
			});
			const how = bypassCSP ? 'with the CSP bypassed' : 'with its CSP';
			assert.notEqual(s.title, 'PWNED', `${how}: a planted script set the title`);
			assert.equal(s.pwned, undefined, `${how}: a planted script or handler ran (__pwned=${s.pwned})`);
			assert.deepEqual(o.dialogs, [], `${how}: a dialog opened`);
			assert.deepEqual(o.requests, [], `${how}: the page requested something`);
			assert.equal(s.bold, 0, `${how}: a planted <b> became markup`);
			assert.ok(s.text.includes(SCRIPT), `${how}: the file name is not shown as text`);
			assert.ok(s.text.includes(IMG), `${how}: the <img> file name is not shown as text`);
			assert.ok(s.text.includes(MSG), `${how}: the finding message is not shown as text`);
		} finally {
			await o.page.close();
		}
	}
	const o = await open(browser, out);
	mkdirSync(ARTIFACTS, { recursive: true });
	await o.page.screenshot({ path: join(ARTIFACTS, 'report-hostile.png'), fullPage: true });
	await o.page.close();
});

test('huge strings are cut or refused', async () => {
	// A 2 MiB finding message and a 64 KiB path: the page either refuses
	// the document with one line naming it, or shows at most a capped
	// part of each (report/html.h: RB_TEXT_MAX).
	const v = JSON.parse(readFileSync(join(tmp, 'verify-smk.json'), 'utf8'));
	const c = v.checks.find((x) => x.findings && x.findings.length > 0);
	c.findings[0].message = 'M'.repeat(2 << 20);
	c.findings[0].path = 'P'.repeat(64 << 10);
	writeFileSync(join(tmp, 'huge.json'), JSON.stringify(v));
	const r = run(['report', '-o', 'huge.html', 'huge.json']);
	if (r.status !== 0) {
		assert.equal(r.status, 2, `exit ${r.status}`);
		assert.match(r.stderr.trim(), /^[^\n]*huge\.json[^\n]*$/, 'not one line naming the file');
		return;
	}
	const html = readFileSync(join(tmp, 'huge.html'), 'utf8');
	assert.ok(html.length < 1 << 20, `the page is ${html.length} bytes`);
	assert.doesNotMatch(html, /M{8192}/, 'the message is not cut');
	assert.doesNotMatch(html, /P{8192}/, 'the path is not cut');
	const o = await open(browser, join(tmp, 'huge.html'));
	const w = await o.page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
	await o.page.close();
	assert.ok(w[0] <= w[1], `a long unbroken string makes the page ${w[0]} px wide (${w[1]} px)`);
});
