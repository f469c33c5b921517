// Headless Chromium for the report tests: one browser, pages opened with
// every request but the page's own blocked and recorded, and the page's
// looks checked (dark mode, A4 print width), with a screenshot and a PDF
// kept under the artifact directory.
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer from 'puppeteer-core';

import { domProblems, staticProblems } from './contract.mjs';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = resolve(process.env.ARTIFACT_DIR || 'build/test-artifacts');

// A4 is 210 mm wide; the printable width is that less the page's
// @page margins (CSS Paged Media 3), or less Chromium's default 0.4 in
// (~10 mm) each side when the page sets none: 190 mm = 718 CSS px at
// 96 px per inch (CSS Values 4, "absolute lengths": 1 in = 96 px).
export const A4_CONTENT_PX = 718;

// Runs in the page: the printable width of A4 in CSS px under the page's
// own @page margins.
function a4Width(fallback) {
	let rule = null;
	for (const sh of Array.from(document.styleSheets)) {
		let rules = [];
		try {
			rules = Array.from(sh.cssRules);
		} catch {
			continue;  /* another origin's sheet (reported elsewhere) */
		}
		for (const r of rules)
			if (r instanceof CSSPageRule && !rule)
				rule = r;
	}
	if (!rule || !rule.style.marginLeft || !rule.style.marginRight)
		return fallback;
	const d = document.createElement('div');
	d.style.cssText = `position:absolute;visibility:hidden;width:calc(210mm - ${rule.style.marginLeft} - ${rule.style.marginRight})`;
	document.body.append(d);
	const w = d.getBoundingClientRect().width;
	d.remove();
	return w > 0 ? Math.floor(w) : fallback;
}

export async function launch() {
	return puppeteer.launch({
		executablePath: CHROMIUM,
		headless: true,
		// Root in a container has no user namespace for the sandbox; the
		// pages are our own files.  The network switches keep Chromium's
		// own background traffic (updates, metrics) from starting, and the
		// proxy that goes nowhere catches whatever would slip past the
		// interception below.
		args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
			'--disable-background-networking', '--disable-component-update',
			'--disable-domain-reliability', '--disable-sync', '--no-first-run',
			'--no-pings', '--metrics-recording-only', '--mute-audio',
			'--proxy-server=127.0.0.1:9', '--proxy-bypass-list=<-loopback>'],
	});
}

// Opens FILE; returns {page, url, requests, dialogs, errors}.  Every
// request other than the page itself is aborted and recorded.  With
// bypassCSP the page's Content-Security-Policy is ignored, so a load the
// policy would have stopped still shows up here as a request (the policy
// is checked in the HTML source separately).
export async function open(browser, file, { bypassCSP = true, js = true, dark = false } = {}) {
	const page = await browser.newPage();
	const url = pathToFileURL(resolve(file)).href;
	const requests = [];
	const dialogs = [];
	const errors = [];
	await page.setBypassCSP(bypassCSP);
	await page.setJavaScriptEnabled(js);
	await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: dark ? 'dark' : 'light' }]);
	await page.setViewport({ width: 1200, height: 900 });
	await page.setRequestInterception(true);
	page.on('request', (req) => {
		if (req.url() === url && req.isNavigationRequest()) {
			req.continue();
			return;
		}
		requests.push(req.url().slice(0, 200));
		req.abort('blockedbyclient');
	});
	page.on('dialog', (d) => {
		dialogs.push(`${d.type()}: ${d.message()}`);
		d.dismiss().catch(() => {});
	});
	page.on('pageerror', (e) => errors.push(String(e.message || e).slice(0, 200)));
	await page.goto(url, { waitUntil: 'load', timeout: 60000 });
	return { page, url, requests, dialogs, errors };
}

async function background(page) {
	return page.evaluate(() => {
		const t = (c) => c === 'transparent' || c === 'rgba(0, 0, 0, 0)';
		const b = getComputedStyle(document.body).backgroundColor;
		return t(b) ? getComputedStyle(document.documentElement).backgroundColor : b;
	});
}

// Everything the suite checks on one rendered page.  docs: as for
// domProblems.  name: the artifacts' base name (NAME.png, NAME.pdf).
// Returns the problems, one line each.
export async function inspect(browser, file, docs, { name, version } = {}) {
	const p = staticProblems(readFileSync(file, 'utf8'));
	const o = await open(browser, file);
	try {
		for (const d of o.dialogs)
			p.push(`script: a dialog opened (${d})`);
		for (const e of o.errors)
			p.push(`script: an error in the page: ${e}`);
		p.push(...await o.page.evaluate(domProblems, docs, version));

		// The page must be complete without JavaScript (issue 14, item 1).
		const nojs = await open(browser, file, { js: false });
		try {
			// Only what JavaScript made right is news here.
			const withjs = new Set(p);
			const q = await nojs.page.evaluate(domProblems, docs, version);
			for (const x of q)
				if (!withjs.has(x))
					p.push(`without JavaScript: ${x}`);
			for (const r of nojs.requests)
				p.push(`network (without JavaScript): the page requested ${r}`);
		} finally {
			await nojs.page.close();
		}

		// Dark and light by prefers-color-scheme.
		const light = await background(o.page);
		await o.page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
		const dark = await background(o.page);
		if (light === dark)
			p.push(`style: the background is ${light} in both light and dark mode`);
		await o.page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);

		if (name) {
			mkdirSync(ARTIFACTS, { recursive: true });
			await o.page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
		}

		// Readable at A4 print width: print media, the printable width of
		// A4, no horizontal overflow.
		await o.page.emulateMediaType('print');
		const a4 = await o.page.evaluate(a4Width, A4_CONTENT_PX);
		await o.page.setViewport({ width: a4, height: 1000 });
		const w = await o.page.evaluate(() => ({
			scroll: document.documentElement.scrollWidth,
			client: document.documentElement.clientWidth,
			widest: Array.from(document.querySelectorAll('body *'))
				.map((e) => [e.getBoundingClientRect().right, e.tagName.toLowerCase() + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ')[0] : '')])
				.sort((a, b) => b[0] - a[0])[0] || [0, ''],
		}));
		if (w.scroll > w.client)
			p.push(`print: ${w.scroll} px wide at A4 width (${w.client} px); widest: ${w.widest[1]} to ${Math.round(w.widest[0])} px`);
		if (name)
			await o.page.pdf({ path: join(ARTIFACTS, `${name}.pdf`), format: 'A4', printBackground: true });
		// Anything the loading, the checks, the screenshot or the PDF
		// asked for.
		for (const r of o.requests)
			p.push(`network: the page requested ${r}`);
	} finally {
		await o.page.close();
	}
	return p;
}
