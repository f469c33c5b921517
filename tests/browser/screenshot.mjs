// The README's picture of a report: the top of PAGE.html as it first
// shows in a 1100 x 1300 window (less when the page is shorter), light mode, every request blocked.
//
//   node tests/browser/screenshot.mjs results/demo-report.html docs/report.png
//
// (after make demo; scripts/browser-test.sh installs puppeteer-core first).
import { launch, open } from './browser.mjs';

const [file, out] = process.argv.slice(2);
if (!file || !out) {
	console.error('usage: node tests/browser/screenshot.mjs PAGE.html OUT.png');
	process.exit(2);
}
const browser = await launch();
try {
	const o = await open(browser, file);
	if (o.requests.length > 0)
		throw new Error(`the page requested ${o.requests.join(', ')}`);
	await o.page.setViewport({ width: 1100, height: 1300 });
	const h = await o.page.evaluate(() => Math.ceil(document.body.getBoundingClientRect().bottom) + 16);
	await o.page.screenshot({ path: out, clip: { x: 0, y: 0, width: 1100, height: Math.min(h, 1300) } });
	console.log(`screenshot: ${out}`);
} finally {
	await browser.close();
}
