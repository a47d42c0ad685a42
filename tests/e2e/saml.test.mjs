// Headless Chromium through SAML: SP-initiated login at a real mod_auth_mellon
// SP and a pysaml2 SP (auto-submitting POST pages, CSP with a script hash,
// cookies on plain http), SSO reuse, IdP-initiated SSO, and single logout.
//
//   KH_IDP=http://127.0.0.1:P KH_MELLON=http://127.0.0.1:Q KH_PYSAML2=http://127.0.0.1:R \
//   KH_USER=yamada.taro KH_PASSWORD=... KH_EXPECT_NAME='山田 太郎' node tests/e2e/saml.test.mjs
//
// Prints TAP; tests/integration/test_saml_e2e.py starts everything and runs it.

import { launchBrowser } from './lib/browser.mjs';

const env = process.env;
const IDP = env.KH_IDP, MEL = env.KH_MELLON, PY = env.KH_PYSAML2;
const USER = env.KH_USER, PASSWORD = env.KH_PASSWORD, NAME = env.KH_EXPECT_NAME;
let n = 0, failed = 0, stop = null;

function report(ok, name, detail) {
	n++;
	console.log(`${ok ? 'ok' : 'not ok'} ${n} - ${name}`);
	if (!ok) {
		failed++;
		for (const l of String(detail ?? '').split('\n').slice(0, 25))
			console.log(`#   ${l}`);
	}
}

async function step(name, fn) {
	if (stop) {
		report(false, name, `not run: ${stop}`);
		return;
	}
	try {
		await fn();
		report(true, name);
	} catch (e) {
		report(false, name, e && e.stack ? e.stack : String(e));
		stop = `earlier step failed: ${name}`;
	}
}

function must(cond, msg) {
	if (!cond)
		throw new Error(msg);
}

const b = await launchBrowser({ locale: 'ja-JP' });
const cspErrors = [];
try {
	const page = b.context.pages()[0] ?? await b.context.newPage();
	page.on('console', (m) => {
		if (/Content Security Policy|Refused to/.test(m.text()))
			cspErrors.push(m.text());
	});
	const body = async () => (await page.textContent('body')) ?? '';

	await step('mellon: SP-initiated login shows the Kakehashi login form', async () => {
		await page.goto(`${MEL}/secret/env`);
		await page.waitForSelector('input[name="password"]');
		must(page.url().startsWith(`${IDP}/login`), `at ${page.url()}`);
	});
	await step('mellon: after sign-in the browser posts the assertion and lands on the app', async () => {
		await page.fill('input[name="username"]', USER);
		await page.fill('input[name="password"]', PASSWORD);
		await Promise.all([
			page.waitForURL(`${MEL}/secret/env`, { timeout: 20000 }),
			page.click('button[type="submit"]'),
		]);
		const env2 = JSON.parse(await body());
		must(env2.MELLON_displayName === NAME, `displayName ${env2.MELLON_displayName}`);
	});
	await step('no Content-Security-Policy violation on the auto-submit page', async () => {
		must(cspErrors.length === 0, cspErrors.join('\n'));
	});
	await step('pysaml2: SSO reuse, no login form', async () => {
		await page.goto(`${PY}/login?binding=post`);
		await page.waitForURL(`${PY}/acs`, { timeout: 20000 });
		const info = JSON.parse(await body());
		must(info.attributes.displayName[0] === NAME, JSON.stringify(info));
	});
	await step('IdP-initiated SSO to mellon', async () => {
		await page.goto(`${IDP}/saml/init?sp=${encodeURIComponent(MEL + '/mellon/metadata')}` +
		    `&RelayState=${encodeURIComponent(MEL + '/secret/env')}`);
		await page.waitForURL(`${MEL}/secret/env`, { timeout: 20000 });
		must((await body()).includes('REMOTE_USER'), await body());
	});
	await step('single logout from pysaml2 reaches mellon and the IdP', async () => {
		await page.goto(`${PY}/logout`);
		await page.waitForURL(/\/slo\?SAMLResponse=/, { timeout: 20000 });
		must((await body()).includes('"logout_response": true'), await body());
		const r = await page.goto(`${MEL}/secret/env`);
		await page.waitForSelector('input[name="password"]');
		must(page.url().startsWith(`${IDP}/login`), `at ${page.url()} ${r && r.status()}`);
	});
} finally {
	await b.close();
}
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
