// Browser test of kakehashid's sign-in pages with headless Debian Chromium.
//
//   KH_BASE_URL=http://127.0.0.1:PORT KH_USER=yamada.taro KH_PASSWORD=... \
//   KH_EXPECT_NAME='山田 太郎' [KH_MIN_DELAY_MS=200] [KH_SCREENSHOT=out.png] \
//       node tests/e2e/login.test.mjs
//
// Prints TAP (ok N - ..., then 1..N) and exits non-zero on any failure.
// tests/e2e/run_login_e2e.py starts the daemon and its backends and runs this.
// The browser is always closed and its temporary profile removed.

import fs from 'node:fs';

import { launchBrowser } from './lib/browser.mjs';

const env = process.env;
const BASE = (env.KH_BASE_URL || '').replace(/\/+$/, '');
const USER = env.KH_USER || '';
const PASSWORD = env.KH_PASSWORD || '';
const EXPECT_NAME = env.KH_EXPECT_NAME || '';
const MIN_DELAY_MS = env.KH_MIN_DELAY_MS ? Number(env.KH_MIN_DELAY_MS) : null;
const SCREENSHOT = env.KH_SCREENSHOT || '';

let n = 0;
let failed = 0;
let stopReason = null;	// set when a step leaves the page in an unknown state

function diag(msg) {
	for (const line of String(msg).split('\n').slice(0, 30))
		console.log(`#   ${line}`);
}

function report(ok, name, detail) {
	n++;
	if (ok) {
		console.log(`ok ${n} - ${name}`);
	} else {
		failed++;
		console.log(`not ok ${n} - ${name}`);
		if (detail)
			diag(detail);
	}
}

// One TAP test. A critical step that fails makes the following steps fail
// at once (with the reason) instead of each waiting for its timeout.
async function step(name, fn, { critical = true, always = false } = {}) {
	if (stopReason !== null && !always) {
		report(false, name, `not run: ${stopReason}`);
		return;
	}
	try {
		await fn();
		report(true, name);
	} catch (e) {
		report(false, name, e && e.stack ? e.stack : String(e));
		if (critical)
			stopReason = `earlier step failed: ${name}`;
	}
}

function assert(cond, msg) {
	if (!cond)
		throw new Error(msg);
}

function eq(got, want, what) {
	if (got !== want)
		throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

async function cookie(context, name) {
	return (await context.cookies(BASE)).find((c) => c.name === name);
}

// Checks a response's status; on a mismatch says what the page and the
// request's Origin header were (a CSRF refusal is a 403 too).
async function expectStatus(page, resp, want, what) {
	const got = resp.status();
	if (got === want)
		return;
	const alert = await page.locator('[role="alert"]').first().innerText().catch(() => '');
	const origin = (await resp.request().allHeaders().catch(() => ({})))['origin'];
	throw new Error(`${what}: got ${got}, want ${want}; page says ${JSON.stringify(alert)};` +
	    ` request Origin: ${origin === undefined ? '(none)' : origin}`);
}

// Submits the form with the given button and returns the response to its POST.
async function submit(page, button, path) {
	const [resp] = await Promise.all([
		page.waitForResponse((r) => r.request().method() === 'POST' &&
		    new URL(r.url()).pathname === path),
		page.click(button),
	]);
	await page.waitForLoadState('load');
	return resp;
}

async function main() {
	for (const [k, v] of [['KH_BASE_URL', BASE], ['KH_USER', USER],
	    ['KH_PASSWORD', PASSWORD], ['KH_EXPECT_NAME', EXPECT_NAME]]) {
		if (!v) {
			console.log(`not ok 1 - environment: ${k} is not set`);
			console.log('1..1');
			return 1;
		}
	}
	const origin = new URL(BASE).origin;
	let browser = null;
	let page = null;
	const foreign = [];	// requests to anything but the IdP
	const pageErrors = [];
	let loginStatus = [];

	try {
		await step('Chromium starts (Debian /usr/bin/chromium, private profile)', async () => {
			browser = await launchBrowser({ locale: 'ja-JP', acceptLanguage: 'ja' });
			page = browser.context.pages()[0] ?? await browser.context.newPage();
			page.on('request', (r) => {
				const u = r.url();
				if (!u.startsWith(origin + '/') && !u.startsWith('data:') &&
				    u !== 'about:blank')
					foreign.push(u);
			});
			page.on('pageerror', (e) => pageErrors.push(String(e)));
			page.on('response', (r) => {
				if (new URL(r.url()).pathname === '/login')
					loginStatus.push(`${r.request().method()} ${r.status()}`);
			});
		});

		await step('GET /login answers 200 with a Japanese page (Accept-Language: ja)', async () => {
			const resp = await page.goto(`${BASE}/login`);
			eq(resp.status(), 200, 'status');
			eq(await page.getAttribute('html', 'lang'), 'ja', 'html lang');
		});

		await step('the form posts to /login with a 43-character csrf field, ' +
		    '#username, #password, #submit', async () => {
			const form = page.locator('form[method="post"][action="/login"]');
			eq(await form.count(), 1, 'login forms');
			const csrf = await form.locator('input[type="hidden"][name="csrf"]').getAttribute('value');
			assert(/^[A-Za-z0-9_-]{43}$/.test(csrf || ''), `csrf ${JSON.stringify(csrf)}`);
			eq(await form.locator('#username[name="username"]').count(), 1, '#username');
			eq(await form.locator('#password[name="password"][type="password"]').count(), 1,
			    '#password');
			eq(await form.locator('#submit').count(), 1, '#submit');
			assert(await page.locator('#username').isVisible(), '#username not visible');
		});

		await step('kh_csrf cookie is HttpOnly and SameSite=Lax', async () => {
			const c = await cookie(browser.context, 'kh_csrf');
			assert(c, 'no kh_csrf cookie');
			assert(c.httpOnly, 'kh_csrf is not HttpOnly');
			eq(c.sameSite, 'Lax', 'kh_csrf SameSite');
		}, { critical: false });

		await step('the language link switches the page to English', async () => {
			const link = page.locator('a.lang');
			eq(await link.count(), 1, 'a.lang links');
			await Promise.all([page.waitForURL(/[?&]lang=en/), link.click()]);
			eq(await page.getAttribute('html', 'lang'), 'en', 'html lang');
			assert(await page.locator('#username').isVisible(), 'no form on the English page');
		});

		await step('the language link switches back to Japanese', async () => {
			await Promise.all([page.waitForURL(/[?&]lang=ja/), page.click('a.lang')]);
			eq(await page.getAttribute('html', 'lang'), 'ja', 'html lang');
		});

		await step('a wrong password is refused: 401 and an error with role=alert', async () => {
			await page.fill('#username', USER);
			await page.fill('#password', PASSWORD + '-wrong');
			const t0 = Date.now();
			const resp = await submit(page, '#submit', '/login');
			const took = Date.now() - t0;
			await expectStatus(page, resp, 401, 'POST /login status');
			const alert = page.getByRole('alert');
			eq(await alert.count(), 1, 'role=alert elements');
			eq(await alert.getAttribute('id'), 'error', 'alert id');
			assert(await alert.evaluate((e) => e.classList.contains('error')), 'alert lacks class error');
			assert((await alert.innerText()).trim().length > 0, 'empty error text');
			eq(await page.getAttribute('html', 'lang'), 'ja', 'html lang after the error');
			eq(await page.locator('#display-name').count(), 0, '#display-name on a failed login');
			eq(await cookie(browser.context, 'kh_session'), undefined, 'kh_session cookie');
			if (MIN_DELAY_MS !== null)
				assert(took >= MIN_DELAY_MS, `answered after ${took} ms < min_delay_ms ${MIN_DELAY_MS}`);
		});

		await step(`signing in as ${USER} redirects (303) to /login ` +
		    `showing "${EXPECT_NAME}"`, async () => {
			await page.fill('#username', USER);
			await page.fill('#password', PASSWORD);
			loginStatus = [];
			const resp = await submit(page, '#submit', '/login');
			await expectStatus(page, resp, 303, 'POST /login status');
			eq(resp.headers()['location'], '/login', 'Location');
			await page.waitForSelector('#display-name');
			eq(new URL(page.url()).pathname, '/login', 'final path');
			eq((await page.textContent('#display-name')).trim(), EXPECT_NAME, '#display-name');
			eq((await page.textContent('#uid')).trim(), USER, '#uid');
			eq(loginStatus.join(', '), 'POST 303, GET 200', 'responses for /login');
			if (SCREENSHOT)
				await page.screenshot({ path: SCREENSHOT, fullPage: true });
		});

		await step('kh_session cookie: 43 characters, HttpOnly, ' +
		    'hidden from document.cookie', async () => {
			const c = await cookie(browser.context, 'kh_session');
			assert(c, 'no kh_session cookie');
			assert(/^[A-Za-z0-9_-]{43}$/.test(c.value), `kh_session value length ${c.value.length}`);
			assert(c.httpOnly, 'kh_session is not HttpOnly');
			eq(c.path, '/', 'kh_session path');
			const visible = await page.evaluate(() => document.cookie);
			assert(!/kh_session|kh_csrf/.test(visible), `document.cookie shows ${visible}`);
		});

		await step('reloading keeps the session', async () => {
			const before = (await cookie(browser.context, 'kh_session')).value;
			const resp = await page.reload();
			eq(resp.status(), 200, 'status');
			eq((await page.textContent('#display-name')).trim(), EXPECT_NAME, '#display-name');
			eq((await cookie(browser.context, 'kh_session'))?.value, before, 'kh_session value');
		});

		await step('signing out shows #signed-out and clears the session cookie', async () => {
			const form = page.locator('form[action="/logout"]');
			eq(await form.count(), 1, 'logout forms');
			assert(/^[A-Za-z0-9_-]{43}$/.test(await form.locator('input[name="csrf"]')
			    .getAttribute('value') || ''), 'logout form without a csrf field');
			const resp = await submit(page, '#logout', '/logout');
			await expectStatus(page, resp, 200, 'POST /logout status');
			assert(await page.locator('#signed-out').isVisible(), '#signed-out not visible');
			eq(await cookie(browser.context, 'kh_session'), undefined, 'kh_session after logout');
		});

		await step('/login shows the sign-in form again', async () => {
			const resp = await page.goto(`${BASE}/login`);
			eq(resp.status(), 200, 'status');
			assert(await page.locator('#username').isVisible(), 'no #username');
			eq(await page.locator('#display-name').count(), 0, '#display-name after logout');
		});

		await step('the page requested nothing outside the IdP and raised no script error', async () => {
			eq(foreign.length, 0, `requests outside ${origin}: ${foreign.slice(0, 5).join(' ')}`);
			eq(pageErrors.length, 0, `page errors: ${pageErrors.slice(0, 3).join(' | ')}`);
		}, { critical: false, always: true });

		stopReason = null;
		await step('the browser closes and its profile is removed', async () => {
			if (browser === null)
				throw new Error('the browser never started');
			const profile = browser.profile;
			await browser.close();
			browser = null;
			assert(!fs.existsSync(profile), `profile ${profile} still exists`);
		});
	} finally {
		// Always close Chromium, whatever happened above.
		if (browser !== null)
			await browser.close().catch(() => {});
	}
	console.log(`1..${n}`);
	return failed ? 1 : 0;
}

let code = 1;
try {
	code = await main();
} catch (e) {
	// main() catches per step; this is a bug in the test itself.
	console.log(`not ok ${n + 1} - test script error`);
	diag(e && e.stack ? e.stack : String(e));
	console.log(`1..${n + 1}`);
}
process.exit(code);
