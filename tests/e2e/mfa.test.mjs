// Browser test of kakehashid's second factor with headless Debian Chromium:
// TOTP enrolment and sign-in with codes from oathtool (a code works once),
// recovery codes, passkeys on Chromium's virtual authenticator (DevTools
// protocol), assertions the server must refuse, and the /mfa pages in
// Japanese and English.
//
// tests/e2e/run_mfa_e2e.py starts two daemons (A: webauthn_attestation none;
// B: direct + webauthn_require_uv) on http://localhost:PORT, registers an
// OIDC client with "policy": "mfa" whose redirect_uri redeems each code and
// shows the ID token's acr/amr as JSON, and passes:
//   KH_BASE_A, KH_BASE_B (browser origins), KH_ADMIN_A, KH_ADMIN_B (admin API
//   on 127.0.0.1), KH_ADMIN_TOKEN, KH_CLIENT_ID, KH_REDIRECT_URI, KH_PASSWORD,
//   KH_USER_TOTP, KH_USER_PASSKEY, KH_USER_PASSKEY_B, KH_USER_NOFACTOR,
//   KH_NETLOG_DIR (one NetLog per browser started), KH_SHOTS (screenshots of
//   failed steps).
//
// Every "fresh browser" is a new Chromium with its own temporary profile
// (lib/browser.mjs: loopback only). Prints TAP (ok N - ..., then 1..N).

import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { launchBrowser } from './lib/browser.mjs';

const env = process.env;
const BASE_A = (env.KH_BASE_A || '').replace(/\/+$/, '');
const BASE_B = (env.KH_BASE_B || '').replace(/\/+$/, '');
const ADMIN_A = (env.KH_ADMIN_A || '').replace(/\/+$/, '');
const ADMIN_B = (env.KH_ADMIN_B || '').replace(/\/+$/, '');
const TOKEN = env.KH_ADMIN_TOKEN || '';
const CLIENT_ID = env.KH_CLIENT_ID || '';
const REDIRECT_URI = env.KH_REDIRECT_URI || '';
const PASSWORD = env.KH_PASSWORD || '';
const U_TOTP = env.KH_USER_TOTP || '';
const U_PK = env.KH_USER_PASSKEY || '';
const U_PK_B = env.KH_USER_PASSKEY_B || '';
const U_NONE = env.KH_USER_NOFACTOR || '';
const NETLOG_DIR = env.KH_NETLOG_DIR || '';
const SHOTS = env.KH_SHOTS || '';

const ACR_MFA = 'urn:kakehashi:acr:mfa';
// idp/i18n.c, [ja, en]
const T = {
	title: ['二段階認証', 'Two-step verification'],
	setupTitle: ['二段階認証の設定', 'Two-step verification settings'],
	noFactor: ['二つ目の要素（認証アプリまたはパスキー）がまだ登録されていません。',
	    'You have not set up a second factor (an authenticator app or a passkey) yet.'],
	setupNow: ['今すぐ設定する', 'Set one up now'],
	bypass: ['ヘルプデスクの一時コード', 'Helpdesk one-time code'],
	lead: ['サインインを完了するには、登録済みの二つ目の要素で本人確認してください。',
	    'To finish signing in, confirm it is you with your second factor.'],
	otpLabel: ['認証アプリに表示されている6桁のコード', '6-digit code from your authenticator app'],
	verify: ['確認', 'Verify'],
	remember: ['この端末を記憶する', 'Remember this device'],
	useRecovery: ['リカバリーコードで確認', 'Verify with a recovery code'],
	passkeySignin: ['パスキーで確認', 'Use a passkey'],
	errCode: ['コードが正しくないか、すでに使用されています。',
	    'The code is incorrect or has already been used.'],
	totpBegin: ['認証アプリを設定する', 'Set up an authenticator app'],
	passkeyRegister: ['パスキーを登録する', 'Add a passkey'],
	passkeyName: ['パスキーの名前（任意）', 'Name for this passkey (optional)'],
	cancelled: ['パスキーの操作が取り消されました。', 'The passkey request was cancelled.'],
	failed: ['パスキーを確認できませんでした。', 'The passkey could not be verified.'],
	enrolled: ['二つ目の要素を登録しました。', 'Your second factor is set up.'],
	siteSep: ' - ',
};

let n = 0;
let failed = 0;
let stopReason = null;	// set when a step leaves the scenario in an unknown state
let shotPage = null;	// the page to photograph when a step fails
const foreign = [];	// requests to anything but A, B and the application
const pageErrors = [];
const cspErrors = [];
const open = new Set();	// browsers to close at the end, whatever happened

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

// A scenario's steps depend on each other: after a failed step the rest of
// the scenario is reported as failed at once ("not run"), the next scenario
// starts afresh.
function scenario(title) {
	stopReason = null;
	console.log(`# ---- ${title}`);
}

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
		if (SHOTS && shotPage !== null) {
			try {
				fs.mkdirSync(SHOTS, { recursive: true });
				await shotPage.screenshot({ path: path.join(SHOTS, `step-${n}.png`),
				    fullPage: true, timeout: 5000 });
			} catch {
				// a screenshot is a help, not a test
			}
		}
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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rnd = () => crypto.randomBytes(16).toString('base64url');
const text = async (page, sel) => ((await page.locator(sel).first().textContent()) ?? '').trim();

// ---- browsers -----------------------------------------------------------------

let browsers = 0;

// A fresh Chromium (own profile, own NetLog) and its first page.
async function freshBrowser(label) {
	browsers++;
	if (NETLOG_DIR)
		process.env.KH_NETLOG = path.join(NETLOG_DIR, `netlog-${browsers}-${label}.json`);
	const b = await launchBrowser({ locale: 'ja-JP', acceptLanguage: 'ja' });
	open.add(b);
	const page = b.context.pages()[0] ?? await b.context.newPage();
	const allowed = [BASE_A, BASE_B, new URL(REDIRECT_URI).origin].map((o) => o + '/');
	page.on('request', (r) => {
		const u = r.url();
		if (!allowed.some((o) => u.startsWith(o)) && !u.startsWith('data:') &&
		    u !== 'about:blank')
			foreign.push(u);
	});
	page.on('pageerror', (e) => pageErrors.push(`${label}: ${e}`));
	page.on('console', (m) => {
		if (/Content Security Policy|Refused to/.test(m.text()))
			cspErrors.push(`${label}: ${m.text()}`);
	});
	shotPage = page;
	return {
		b, page, label,
		close: async () => {
			open.delete(b);
			if (shotPage === page)
				shotPage = null;
			await b.close();
		},
	};
}

// ---- Chromium's virtual authenticator (DevTools protocol) ---------------------

async function authenticator(page, { uv = true } = {}) {
	const cdp = await page.context().newCDPSession(page);
	await cdp.send('WebAuthn.enable', { enableUI: false });
	const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
		options: {
			protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
			hasUserVerification: true, isUserVerified: uv,
			automaticPresenceSimulation: true,
		},
	});
	return { cdp, id: authenticatorId };
}

async function credentials(auth) {
	return (await auth.cdp.send('WebAuthn.getCredentials', { authenticatorId: auth.id }))
	    .credentials;
}

// Copies a credential (private key included) into another authenticator.
async function addCredential(auth, c) {
	await auth.cdp.send('WebAuthn.addCredential', {
		authenticatorId: auth.id,
		credential: {
			credentialId: c.credentialId, isResidentCredential: c.isResidentCredential,
			rpId: c.rpId, privateKey: c.privateKey, userHandle: c.userHandle,
			signCount: c.signCount,
		},
	});
}

// ---- the IdP and the application ------------------------------------------------

async function admin(base, uid) {
	const r = await fetch(`${base}/admin/api/v1/users/${encodeURIComponent(uid)}`, {
		headers: { Authorization: `Bearer ${TOKEN}` },
	});
	const body = await r.text();
	assert(r.status === 200, `GET /admin/api/v1/users/${uid}: ${r.status} ${body.slice(0, 200)}`);
	const j = JSON.parse(body);
	assert(j.mfa && typeof j.mfa === 'object', `no "mfa" in ${body.slice(0, 300)}`);
	return j.mfa;
}

function authorizeUrl(base, state) {
	return `${base}/oidc/authorize?` + new URLSearchParams({
		response_type: 'code', client_id: CLIENT_ID, redirect_uri: REDIRECT_URI,
		scope: 'openid profile', state, nonce: rnd(),
	});
}

// The application sends the browser to the IdP; the staff member signs in
// with the password; the app's policy ("mfa") sends the browser to /mfa.
async function signIn(page, base, user) {
	const state = rnd();
	const resp = await page.goto(authorizeUrl(base, state));
	await page.waitForSelector('#username');
	const at = new URL(page.url());
	eq(at.origin + at.pathname, `${base}/login`, `after /oidc/authorize (${resp?.status()})`);
	await page.fill('#username', user);
	await page.fill('#password', PASSWORD);
	await Promise.all([
		page.waitForURL((u) => u.pathname === '/mfa' || u.pathname === '/mfa/setup' ||
		    u.href.startsWith(REDIRECT_URI), { timeout: 20000 }),
		page.click('#submit'),
	]);
	await page.waitForLoadState('load');
	const u = new URL(page.url());
	eq(u.origin + u.pathname, `${base}/mfa`, 'after the password');
	const p = u.searchParams.get('p');
	assert(p && /^[A-Za-z0-9_-]+$/.test(p), `no pending id in ${page.url()}`);
	return { base, state, p, user };
}

// The browser lands on the application's redirect_uri with a code that the
// application redeems for an ID token with acr mfa and the expected amr.
async function expectApp(page, flow, amr) {
	await page.waitForURL((u) => u.href.startsWith(REDIRECT_URI + '?'), { timeout: 20000 });
	const u = new URL(page.url());
	assert(/^[A-Za-z0-9_-]{20,}$/.test(u.searchParams.get('code') || ''),
	    `no code in ${page.url()}`);
	eq(u.searchParams.get('state'), flow.state, 'state');
	eq(u.searchParams.get('iss'), flow.base, 'iss');
	const body = await page.textContent('body');
	let info;
	try {
		info = JSON.parse(body);
	} catch {
		throw new Error(`application page: ${body.slice(0, 300)}`);
	}
	eq(info.token_status, 200, `token endpoint (${info.token_error ?? ''})`);
	eq(info.sub, flow.user, 'ID token sub');
	eq(info.acr, ACR_MFA, 'ID token acr');
	assert(Array.isArray(info.amr) && info.amr.includes('pwd') && info.amr.includes('mfa') &&
	    info.amr.includes(amr), `ID token amr ${JSON.stringify(info.amr)}, want pwd ${amr} mfa`);
	return info;
}

// Clicks a submit button and returns the response to the form's POST.
async function submit(page, button, pathname) {
	const [resp] = await Promise.all([
		page.waitForResponse((r) => r.request().method() === 'POST' &&
		    new URL(r.url()).pathname === pathname),
		page.click(button),
	]);
	await page.waitForLoadState('load');
	return resp;
}

// TOTP code from oathtool for the given time (seconds since the epoch).
function oathtool(secret, at) {
	const r = spawnSync('oathtool', ['--totp', '-b', '-N', `@${at}`, secret],
	    { encoding: 'utf8', timeout: 10000 });
	assert(r.status === 0, `oathtool: exit ${r.status} ${r.stderr}`);
	const code = r.stdout.trim();
	assert(/^\d{6}$/.test(code), `oathtool printed ${JSON.stringify(r.stdout)}`);
	return code;
}

const now = () => Math.floor(Date.now() / 1000);
const stepOf = (t) => Math.floor(t / 30);

async function visible(page, sel) {
	assert(await page.locator(sel).isVisible(), `${sel} not visible`);
}

async function count(page, sel, want) {
	eq(await page.locator(sel).count(), want, `number of ${sel}`);
}

// Clicks #passkey-signin or #passkey-register (webauthn.js: options, the
// authenticator, finish) and returns the answer to /mfa/webauthn/finish.
async function passkeyClick(page, button) {
	const finish = page.waitForResponse((r) => r.request().method() === 'POST' &&
	    new URL(r.url()).pathname === '/mfa/webauthn/finish', { timeout: 15000 });
	finish.catch(() => {});	// awaited below; a click that throws leaves it alone
	await page.click(button);
	return await finish;
}

// Clicks the button when the ceremony must fail inside the browser: waits for
// #webauthn-error to show a message; returns { msg, posted } (posted: how
// many times the page posted to /mfa/webauthn/finish meanwhile).
async function failsInBrowser(page, button) {
	let posted = 0;
	const onReq = (r) => {
		if (new URL(r.url()).pathname === '/mfa/webauthn/finish')
			posted++;
	};
	page.on('request', onReq);
	try {
		await page.click(button);
		await page.waitForFunction(() => {
			const e = document.getElementById('webauthn-error');
			return e && !e.hidden && e.textContent.trim() !== '';
		}, null, { timeout: 20000 });
	} finally {
		page.off('request', onReq);
	}
	return { msg: await text(page, '#webauthn-error'), posted };
}

// ---- the test ---------------------------------------------------------------------

async function main() {
	for (const [k, v] of Object.entries({ KH_BASE_A: BASE_A, KH_BASE_B: BASE_B,
	    KH_ADMIN_A: ADMIN_A, KH_ADMIN_B: ADMIN_B, KH_ADMIN_TOKEN: TOKEN,
	    KH_CLIENT_ID: CLIENT_ID, KH_REDIRECT_URI: REDIRECT_URI, KH_PASSWORD: PASSWORD,
	    KH_USER_TOTP: U_TOTP, KH_USER_PASSKEY: U_PK, KH_USER_PASSKEY_B: U_PK_B,
	    KH_USER_NOFACTOR: U_NONE })) {
		if (!v) {
			console.log(`not ok 1 - environment: ${k} is not set`);
			console.log('1..1');
			return 1;
		}
	}

	// ===== 1. TOTP through the browser ===========================================
	let totp = null;	// { secret, t1, code1, recovery[] }
	let b2 = null, flow2 = null;
	scenario(`1. TOTP: ${U_TOTP} enrols with oathtool, a code works once`);
	{
		let br = null, flow = null;
		await step('Chromium starts with a private profile', async () => {
			br = await freshBrowser('totp-enrol');
		});
		const page = () => br.page;
		await step(`${U_TOTP} opens the application (policy mfa): login page, then /mfa ` +
		    'with #no-factor and a#setup', async () => {
			flow = await signIn(page(), BASE_A, U_TOTP);
			await visible(page(), '#no-factor');
			eq(await page().getAttribute('a#setup', 'href'), `/mfa/setup?p=${flow.p}`,
			    'a#setup href');
			await count(page(), '#otp', 0);
			await count(page(), '#passkey-signin', 0);
			await count(page(), '#recovery-section', 0);
		});
		await step('a#setup opens /mfa/setup: TOTP not set, no passkey, no #continue yet',
		    async () => {
			await Promise.all([page().waitForURL((u) => u.pathname === '/mfa/setup'),
			    page().click('a#setup')]);
			eq(await page().getAttribute('#totp-status', 'data-active'), '0',
			    '#totp-status data-active');
			await count(page(), 'ul#passkeys li.passkey', 0);
			await count(page(), '#continue', 0);
		});
		await step('#totp-begin: a QR code (svg) and the secret in code#totp-secret',
		    async () => {
			const resp = await submit(page(), '#totp-begin', '/mfa/totp');
			eq(resp.status(), 200, 'POST /mfa/totp action=begin');
			await visible(page(), '#qr svg');
			const shown = await text(page(), 'code#totp-secret');
			assert(/^[A-Z2-7]{4}( [A-Z2-7]{1,4})+$/.test(shown),
			    `secret shown as ${JSON.stringify(shown)}`);
			totp = { secret: shown.replace(/ /g, '') };
			eq(totp.secret.length, 32, 'base32 length of a 20-byte secret');
			await visible(page(), '#otp');
			await visible(page(), '#confirm');
		});
		await step('a wrong code is refused: 400, #error, the same secret shown again',
		    async () => {
			await page().fill('#otp', oathtool(totp.secret, now() - 3600));
			const resp = await submit(page(), '#confirm', '/mfa/totp');
			eq(resp.status(), 400, 'POST /mfa/totp action=confirm');
			await visible(page(), '#error');
			eq(await text(page(), '#error'), T.errCode[0], '#error text');
			eq((await text(page(), 'code#totp-secret')).replace(/ /g, ''), totp.secret,
			    'secret after the error');
		});
		await step('the code from `oathtool --totp -b SECRET` confirms: 10 recovery codes ' +
		    'and a#continue', async () => {
			totp.t1 = now();
			totp.code1 = oathtool(totp.secret, totp.t1);
			await page().fill('#otp', totp.code1);
			const resp = await submit(page(), '#confirm', '/mfa/totp');
			eq(resp.status(), 200, 'POST /mfa/totp action=confirm');
			await visible(page(), 'ol#recovery-codes');
			const codes = (await page().locator('ol#recovery-codes li code.code')
			    .allTextContents()).map((s) => s.trim());
			eq(codes.length, 10, 'recovery codes');
			assert(codes.every((c) => /^[a-z0-9]{4}(-[a-z0-9]{4}){3}$/i.test(c)),
			    `code format: ${codes.join(' ')}`);
			eq(new Set(codes).size, 10, 'distinct recovery codes');
			totp.recovery = codes;
			eq(await text(page(), '#notice'), T.enrolled[0], '#notice');
			const href = await page().getAttribute('a#continue', 'href');
			assert(/^\/oidc\/authorize\?resume=/.test(href || ''), `a#continue href ${href}`);
		});
		await step('a#continue: the application gets a code (acr mfa, amr pwd otp mfa)',
		    async () => {
			await page().click('a#continue');
			await expectApp(page(), flow, 'otp');
		});
		await step('admin API: totp on, 10 recovery codes left, no failure counted after ' +
		    'the success', async () => {
			const m = await admin(ADMIN_A, U_TOTP);
			eq(m.totp, true, 'mfa.totp');
			eq(m.recovery_codes_left, 10, 'mfa.recovery_codes_left');
			eq(m.passkeys.length, 0, 'passkeys');
			eq(m.failures, 0, 'mfa.failures');
			eq(m.locked, false, 'mfa.locked');
		}, { critical: false });
		await step('the browser closes', async () => {
			if (br !== null)
				await br.close();
		}, { critical: false, always: true });

		await step('a fresh browser: sign-in asks for the TOTP code (#otp, #verify, ' +
		    '#remember, #recovery-section; no #no-factor)', async () => {
			b2 = await freshBrowser('totp-replay');
			flow2 = await signIn(b2.page, BASE_A, U_TOTP);
			await visible(b2.page, '#otp');
			await visible(b2.page, '#verify');
			await count(b2.page, '#remember', 1);
			await count(b2.page, '#recovery-section', 1);
			await count(b2.page, '#no-factor', 0);
			await count(b2.page, 'a#setup', 0);
		});
		await step('the same oathtool code is refused the second time: 401, #error, ' +
		    'still on /mfa', async () => {
			const s = stepOf(now());
			// Within the +-1 step window only replay protection can refuse it.
			assert(s - stepOf(totp.t1) <= 1, `too late to prove anything: step ${s} vs ` +
			    `${stepOf(totp.t1)}`);
			await b2.page.fill('#otp', totp.code1);
			const resp = await submit(b2.page, '#verify', '/mfa');
			eq(resp.status(), 401, 'POST /mfa with the used code');
			await visible(b2.page, '#error');
			eq(await text(b2.page, '#error'), T.errCode[0], '#error text');
			eq(new URL(b2.page.url()).pathname, '/mfa', 'path after the refusal');
			await visible(b2.page, '#otp');
		});
	}

	// ===== 2. Passkeys on A (attestation none) ===================================
	let cred = null;	// the credential of U_PK, with its private key
	scenario(`2. passkey on A (attestation none): ${U_PK} registers with Chromium's ` +
	    'virtual authenticator and signs in from another browser');
	{
		let br = null, auth = null, flow = null, sc0 = null;
		await step('a fresh browser with a virtual authenticator (ctap2, internal, ' +
		    'resident key, user verification)', async () => {
			br = await freshBrowser('passkey-register-a');
			auth = await authenticator(br.page);
			eq((await credentials(auth)).length, 0, 'credentials before');
		});
		await step(`${U_PK} signs in at the application: /mfa with #no-factor → ` +
		    '/mfa/setup (enrol_zones *)', async () => {
			flow = await signIn(br.page, BASE_A, U_PK);
			await visible(br.page, '#no-factor');
			await Promise.all([br.page.waitForURL((u) => u.pathname === '/mfa/setup'),
			    br.page.click('a#setup')]);
			await visible(br.page, '#passkeys-none');
			await count(br.page, 'ul#passkeys li.passkey', 0);
			eq(await br.page.getAttribute('#webauthn', 'data-mode'), 'register', 'data-mode');
		});
		const name = '業務用パソコン';
		await step('#passkey-name typed, #passkey-register clicked: the passkey is listed ' +
		    'in ul#passkeys', async () => {
			await br.page.fill('#passkey-name', name);
			const resp = await passkeyClick(br.page, '#passkey-register');
			// The page follows {"ok":true,"redirect":...} at once: the body may be
			// gone before it can be read; the page that follows proves it.
			const j = await resp.json().catch(() => null);
			eq(resp.status(), 200, `POST /mfa/webauthn/finish (${JSON.stringify(j)})`);
			assert(j === null || j.ok === true, `finish answered ${JSON.stringify(j)}`);
			await br.page.waitForSelector('ul#passkeys li.passkey');
			await br.page.waitForLoadState('load');
			eq(new URL(br.page.url()).pathname, '/mfa/setup', 'page after registering');
			const items = (await br.page.locator('ul#passkeys li.passkey').allTextContents())
			    .map((s) => s.trim());
			eq(JSON.stringify(items), JSON.stringify([name]), 'ul#passkeys');
			await count(br.page, '#passkeys-none', 0);
			await visible(br.page, 'a#continue');
		});
		await step('WebAuthn.getCredentials: one resident credential for RP ID localhost',
		    async () => {
			const cs = await credentials(auth);
			eq(cs.length, 1, 'credentials');
			cred = cs[0];
			eq(cred.rpId, 'localhost', 'rpId');
			eq(cred.isResidentCredential, true, 'isResidentCredential');
			assert(cred.privateKey, 'no private key');
		});
		await step('registering the same authenticator again: the browser refuses ' +
		    '(excludeCredentials), nothing posted, #webauthn-error in the page\'s language',
		    async () => {
			const { msg, posted } = await failsInBrowser(br.page, '#passkey-register');
			eq(posted, 0, 'posts to /mfa/webauthn/finish');
			await count(br.page, 'ul#passkeys li.passkey', 1);
			eq(await br.page.isEnabled('#passkey-register'), true, 'button enabled again');
			eq(await br.page.getAttribute('html', 'lang'), 'ja', 'html lang');
			// webauthn.js shows data-msg-exists, else data-msg-failed, else its
			// built-in English sentence.
			const attrs = await br.page.evaluate(() => {
				const w = document.getElementById('webauthn');
				return { exists: w.getAttribute('data-msg-exists'),
				    failed: w.getAttribute('data-msg-failed') };
			});
			assert(/[\u3040-\u30ff\u4e00-\u9fff]/.test(msg),
			    `the Japanese page says ${JSON.stringify(msg)} (div#webauthn ` +
			    `data-msg-exists=${JSON.stringify(attrs.exists)}, ` +
			    `data-msg-failed=${JSON.stringify(attrs.failed)})`);
		}, { critical: false });
		await step('admin API: one passkey, fmt "none", its name, sign_count = the ' +
		    'authenticator\'s counter', async () => {
			const m = await admin(ADMIN_A, U_PK);
			eq(m.passkeys.length, 1, 'passkeys');
			const pk = m.passkeys[0];
			eq(pk.fmt, 'none', 'passkeys[0].fmt');
			eq(pk.name, name, 'passkeys[0].name');
			eq(pk.id, cred.credentialId.replace(/\+/g, '-').replace(/\//g, '_')
			    .replace(/=+$/, ''), 'passkeys[0].id (base64url credential id)');
			eq(pk.sign_count, cred.signCount, 'passkeys[0].sign_count');
			sc0 = pk.sign_count;
			eq(m.totp, false, 'mfa.totp');
		});
		await step('a#continue: the application gets a code (amr hwk)', async () => {
			await br.page.click('a#continue');
			const info = await expectApp(br.page, flow, cred.backupEligibility ? 'swk' : 'hwk');
			diag(`amr ${JSON.stringify(info.amr)}`);
		});
		await step('the browser closes', async () => {
			if (br !== null)
				await br.close();
		}, { critical: false, always: true });

		let br2 = null, auth2 = null, flow2b = null;
		await step('a fresh browser: new virtual authenticator given the same credential ' +
		    '(WebAuthn.addCredential with the private key)', async () => {
			br2 = await freshBrowser('passkey-signin-a');
			auth2 = await authenticator(br2.page);
			await addCredential(auth2, cred);
			eq((await credentials(auth2)).length, 1, 'credentials in the new authenticator');
		});
		await step('sign-in: /mfa offers #passkey-signin (data-mode auth), no TOTP form, ' +
		    'no #no-factor', async () => {
			flow2b = await signIn(br2.page, BASE_A, U_PK);
			await visible(br2.page, '#passkey-signin');
			eq(await br2.page.getAttribute('#webauthn', 'data-mode'), 'auth', 'data-mode');
			eq(await br2.page.isHidden('#webauthn-error'), true, '#webauthn-error hidden');
			await count(br2.page, '#otp', 0);
			await count(br2.page, '#no-factor', 0);
		});
		await step('#remember checked, #passkey-signin: the application gets a code (amr ' +
		    'hwk); kh_dev cookie (HttpOnly, 30 days), admin API remembered_devices 1',
		    async () => {
			await br2.page.check('#remember');
			const resp = await passkeyClick(br2.page, '#passkey-signin');
			eq(resp.status(), 200, 'POST /mfa/webauthn/finish');
			eq(new URLSearchParams(resp.request().postData() || '').get('remember'), '1',
			    'remember posted');
			await expectApp(br2.page, flow2b, cred.backupEligibility ? 'swk' : 'hwk');
			const c = (await br2.b.context.cookies(BASE_A)).find((x) => x.name === 'kh_dev');
			assert(c, 'no kh_dev cookie');
			eq(c.httpOnly, true, 'kh_dev HttpOnly');
			const days = (c.expires - Date.now() / 1000) / 86400;
			assert(days > 29.9 && days <= 30.01, `kh_dev expires in ${days.toFixed(2)} days`);
			eq((await admin(ADMIN_A, U_PK)).remembered_devices, 1, 'remembered_devices');
		});
		await step('the sign counter grew: authenticator and admin API sign_count', async () => {
			const c2 = (await credentials(auth2))[0];
			assert(c2.signCount > cred.signCount,
			    `authenticator counter ${c2.signCount} after ${cred.signCount}`);
			const m = await admin(ADMIN_A, U_PK);
			eq(m.passkeys[0].sign_count, c2.signCount, 'passkeys[0].sign_count');
			assert(m.passkeys[0].sign_count > sc0, `sign_count ${m.passkeys[0].sign_count} ` +
			    `not above ${sc0}`);
			cred = { ...cred, signCount: c2.signCount };
		});
		await step('the browser closes', async () => {
			if (br2 !== null)
				await br2.close();
		}, { critical: false, always: true });
	}
	if (stopReason !== null)
		cred = null;

	// ===== 3. What the server must refuse (A) ====================================
	scenario('3. refusals on A: a tampered assertion, a cancelled ceremony, a cloned ' +
	    'authenticator');
	{
		let br = null, auth = null, flow = null, before = null;
		await step('a fresh browser whose authenticator holds the passkey; sign-in ' +
		    'reaches /mfa', async () => {
			assert(cred !== null, 'no credential from scenario 2');
			br = await freshBrowser('passkey-refusals-a');
			auth = await authenticator(br.page);
			await addCredential(auth, cred);
			flow = await signIn(br.page, BASE_A, U_PK);
			await visible(br.page, '#passkey-signin');
			before = await admin(ADMIN_A, U_PK);
		});
		await step('an assertion whose signature is changed in flight is refused: 401 ' +
		    'verification_failed, #webauthn-error, no redirect', async () => {
			let tampered = false;
			await br.page.route('**/mfa/webauthn/finish', async (route) => {
				const f = new URLSearchParams(route.request().postData() || '');
				const sig = Buffer.from(f.get('signature') || '', 'base64url');
				if (sig.length > 8) {
					sig[sig.length - 1] ^= 0x01;
					f.set('signature', sig.toString('base64url'));
					tampered = true;
				}
				await route.continue({ postData: f.toString() });
			});
			const resp = await passkeyClick(br.page, '#passkey-signin');
			await br.page.unroute('**/mfa/webauthn/finish');
			assert(tampered, 'the signature was not there to change');
			const j = await resp.json().catch(() => null);
			eq(resp.status(), 401, `POST /mfa/webauthn/finish (${JSON.stringify(j)})`);
			eq(j?.error, 'verification_failed', 'error');
			await br.page.waitForSelector('#webauthn-error:not([hidden])');
			eq(await text(br.page, '#webauthn-error'), T.failed[0], '#webauthn-error text');
			eq(new URL(br.page.url()).pathname, '/mfa', 'still on /mfa');
			await sleep(300);
			eq(new URL(br.page.url()).pathname, '/mfa', 'still on /mfa after 300 ms');
		});
		await step('admin API: the refusal counted as a failure, sign_count unchanged',
		    async () => {
			const m = await admin(ADMIN_A, U_PK);
			eq(m.failures, before.failures + 1, 'mfa.failures');
			eq(m.passkeys[0].sign_count, before.passkeys[0].sign_count, 'sign_count');
		});
		await step('cancelled ceremony (the authenticator is gone, an empty one answers): ' +
		    '#webauthn-error shows the cancelled message, nothing posted', async () => {
			await auth.cdp.send('WebAuthn.removeVirtualAuthenticator',
			    { authenticatorId: auth.id });
			const empty = await authenticator(br.page);
			const { msg, posted } = await failsInBrowser(br.page, '#passkey-signin');
			eq(msg, T.cancelled[0], '#webauthn-error text');
			eq(posted, 0, 'posts to /mfa/webauthn/finish');
			eq(await br.page.isEnabled('#passkey-signin'), true, 'button enabled again');
			await empty.cdp.send('WebAuthn.removeVirtualAuthenticator',
			    { authenticatorId: empty.id });
		});
		await step('a clone of the passkey (same key, its counter behind the server\'s) is ' +
		    'refused: 401 verification_failed, #webauthn-error, sign_count unchanged',
		    async () => {
			const stored = (await admin(ADMIN_A, U_PK)).passkeys[0].sign_count;
			assert(stored >= 1, `stored sign_count ${stored}: a counter of 1 would not be behind`);
			const clone = await authenticator(br.page);
			await addCredential(clone, { ...cred, signCount: 0 });
			const resp = await passkeyClick(br.page, '#passkey-signin');
			const f = new URLSearchParams(resp.request().postData() || '');
			const ad = Buffer.from(f.get('authenticatorData') || '', 'base64url');
			eq(ad.length >= 37 ? ad.readUInt32BE(33) : -1, 1, 'counter in the clone\'s assertion');
			const j = await resp.json().catch(() => null);
			eq(resp.status(), 401, `POST /mfa/webauthn/finish (${JSON.stringify(j)})`);
			eq(j?.error, 'verification_failed', 'error');
			await br.page.waitForSelector('#webauthn-error:not([hidden])');
			eq(await text(br.page, '#webauthn-error'), T.failed[0], '#webauthn-error text');
			const m = await admin(ADMIN_A, U_PK);
			eq(m.passkeys[0].sign_count, stored, 'sign_count');
			eq(m.failures, before.failures + 2, 'mfa.failures (signature, clone)');
			await clone.cdp.send('WebAuthn.removeVirtualAuthenticator',
			    { authenticatorId: clone.id });
			auth = await authenticator(br.page);
			await addCredential(auth, cred);
		});
		await step('the real passkey still signs in afterwards: the application gets a code',
		    async () => {
			const resp = await passkeyClick(br.page, '#passkey-signin');
			eq(resp.status(), 200, 'POST /mfa/webauthn/finish');
			await expectApp(br.page, flow, cred.backupEligibility ? 'swk' : 'hwk');
			const m = await admin(ADMIN_A, U_PK);
			eq(m.failures, 0, 'mfa.failures after the success');
			cred = { ...cred, signCount: (await credentials(auth))[0].signCount };
		});
		await step('the browser closes', async () => {
			if (br !== null)
				await br.close();
		}, { critical: false, always: true });
	}

	// ===== 2b/3b. Passkeys on B (attestation direct, user verification required) ===
	scenario(`2b. passkey on B (attestation direct, require_uv): ${U_PK_B}; an ` +
	    'assertion without user verification is refused');
	{
		let br = null, auth = null, flow = null, credB = null;
		await step('a fresh browser with a virtual authenticator; sign-in on B reaches ' +
		    '/mfa/setup', async () => {
			br = await freshBrowser('passkey-register-b');
			auth = await authenticator(br.page);
			flow = await signIn(br.page, BASE_B, U_PK_B);
			await visible(br.page, '#no-factor');
			await Promise.all([br.page.waitForURL((u) => u.pathname === '/mfa/setup'),
			    br.page.click('a#setup')]);
		});
		await step('register: listed in ul#passkeys; admin API fmt "packed" (direct ' +
		    'attestation)', async () => {
			await br.page.fill('#passkey-name', 'key B');
			const resp = await passkeyClick(br.page, '#passkey-register');
			const j = await resp.json().catch(() => null);
			eq(resp.status(), 200, `POST /mfa/webauthn/finish (${JSON.stringify(j)})`);
			await br.page.waitForSelector('ul#passkeys li.passkey');
			eq(await text(br.page, 'ul#passkeys li.passkey'), 'key B', 'ul#passkeys');
			const cs = await credentials(auth);
			eq(cs.length, 1, 'credentials');
			credB = cs[0];
			const m = await admin(ADMIN_B, U_PK_B);
			eq(m.passkeys.length, 1, 'passkeys');
			eq(m.passkeys[0].fmt, 'packed', 'passkeys[0].fmt');
			eq(m.passkeys[0].sign_count, credB.signCount, 'passkeys[0].sign_count');
			diag(`aaguid ${m.passkeys[0].aaguid}`);
		});
		await step('a#continue: the application gets a code from B', async () => {
			await br.page.click('a#continue');
			await expectApp(br.page, flow, credB.backupEligibility ? 'swk' : 'hwk');
		});
		await step('the browser closes', async () => {
			if (br !== null)
				await br.close();
		}, { critical: false, always: true });

		let br2 = null, auth2 = null, flow2c = null, before = null;
		await step('a fresh browser whose authenticator holds the passkey but does not ' +
		    'verify the user (isUserVerified false); sign-in reaches /mfa', async () => {
			br2 = await freshBrowser('passkey-uv-b');
			auth2 = await authenticator(br2.page, { uv: false });
			await addCredential(auth2, credB);
			flow2c = await signIn(br2.page, BASE_B, U_PK_B);
			await visible(br2.page, '#passkey-signin');
			before = await admin(ADMIN_B, U_PK_B);
		});
		await step('userVerification "required": the browser refuses, #webauthn-error shows ' +
		    'the cancelled message, nothing posted', async () => {
			const { msg, posted } = await failsInBrowser(br2.page, '#passkey-signin');
			eq(msg, T.cancelled[0], '#webauthn-error text');
			eq(posted, 0, 'posts to /mfa/webauthn/finish');
		});
		await step('the page script asks for userVerification "discouraged": the assertion ' +
		    '(UP set, UV clear) is refused by the server: 401, #webauthn-error', async () => {
			await br2.page.evaluate(() => {
				const get = navigator.credentials.get.bind(navigator.credentials);
				navigator.credentials.get = (o) => {
					o.publicKey.userVerification = 'discouraged';
					return get(o);
				};
			});
			const resp = await passkeyClick(br2.page, '#passkey-signin');
			const f = new URLSearchParams(resp.request().postData() || '');
			const ad = Buffer.from(f.get('authenticatorData') || '', 'base64url');
			assert(ad.length >= 37, `authenticatorData of ${ad.length} bytes`);
			eq(ad[32] & 0x01, 0x01, 'UP flag');
			eq(ad[32] & 0x04, 0, 'UV flag');
			const j = await resp.json().catch(() => null);
			eq(resp.status(), 401, `POST /mfa/webauthn/finish (${JSON.stringify(j)})`);
			eq(j?.error, 'verification_failed', 'error');
			await br2.page.waitForFunction((want) =>
			    document.getElementById('webauthn-error')?.textContent.trim() === want,
			    T.failed[0], { timeout: 5000 });
			eq(new URL(br2.page.url()).pathname, '/mfa', 'still on /mfa');
			const m = await admin(ADMIN_B, U_PK_B);
			eq(m.failures, before.failures + 1, 'mfa.failures');
			eq(m.passkeys[0].sign_count, before.passkeys[0].sign_count, 'sign_count');
		});
		await step('the user verified (WebAuthn.setUserVerified), page reloaded: the ' +
		    'passkey signs in, the application gets a code from B', async () => {
			await auth2.cdp.send('WebAuthn.setUserVerified',
			    { authenticatorId: auth2.id, isUserVerified: true });
			await br2.page.reload();
			const resp = await passkeyClick(br2.page, '#passkey-signin');
			eq(resp.status(), 200, 'POST /mfa/webauthn/finish');
			await expectApp(br2.page, flow2c, credB.backupEligibility ? 'swk' : 'hwk');
			const m = await admin(ADMIN_B, U_PK_B);
			assert(m.passkeys[0].sign_count > before.passkeys[0].sign_count,
			    `sign_count ${m.passkeys[0].sign_count} after ${before.passkeys[0].sign_count}`);
		});
		await step('the browser closes', async () => {
			if (br2 !== null)
				await br2.close();
		}, { critical: false, always: true });
	}

	// ===== 1, continued: the next code works, and works once ======================
	scenario(`1 (continued). TOTP: the next step's code is accepted once; a recovery code`);
	{
		let code2 = null, t2 = null;
		await step('in the browser that saw the refusal: the next 30 s step\'s oathtool code ' +
		    'is accepted → the application gets a code', async () => {
			assert(totp?.recovery && b2 !== null && flow2 !== null &&
			    new URL(b2.page.url()).pathname === '/mfa', 'scenario 1 did not get this far' +
			    (b2 !== null ? ` (that browser is at ${b2.page.url()})` : ''));
			const waitS = (stepOf(totp.t1) + 1) * 30 - Date.now() / 1000;
			if (waitS > 0) {
				diag(`waiting ${waitS.toFixed(1)} s for the next TOTP step`);
				await sleep(waitS * 1000 + 200);
			}
			t2 = now();
			assert(stepOf(t2) > stepOf(totp.t1), 'still in the first step');
			code2 = oathtool(totp.secret, t2);
			await b2.page.fill('#otp', code2);
			const resp = await submit(b2.page, '#verify', '/mfa');
			eq(resp.status(), 303, 'POST /mfa');
			await expectApp(b2.page, flow2, 'otp');
		});
		await step('the browser closes', async () => {
			if (b2 !== null)
				await b2.close();
			b2 = null;
		}, { critical: false, always: true });

		let br = null, flow = null;
		await step('a fresh browser: that code is refused the second time too (401, #error)',
		    async () => {
			assert(code2 !== null, 'no second code');
			br = await freshBrowser('totp-replay-2');
			flow = await signIn(br.page, BASE_A, U_TOTP);
			assert(stepOf(now()) - stepOf(t2) <= 1, 'too late to prove anything');
			await br.page.fill('#otp', code2);
			const resp = await submit(br.page, '#verify', '/mfa');
			eq(resp.status(), 401, 'POST /mfa with the used code');
			await visible(br.page, '#error');
			eq(await text(br.page, '#error'), T.errCode[0], '#error text');
		});
		await step('a recovery code from the enrolment is accepted → the application gets ' +
		    'a code', async () => {
			await br.page.click('#recovery-section summary');
			await br.page.fill('#recovery', totp.recovery[0]);
			const resp = await submit(br.page, '#verify-recovery', '/mfa');
			eq(resp.status(), 303, 'POST /mfa recovery');
			await expectApp(br.page, flow, 'otp');
		});
		await step('admin API: 9 recovery codes left, failures cleared by the success',
		    async () => {
			const m = await admin(ADMIN_A, U_TOTP);
			eq(m.recovery_codes_left, 9, 'mfa.recovery_codes_left');
			eq(m.failures, 0, 'mfa.failures');
		}, { critical: false });
		await step('a used recovery code is refused (new session): 401, #error', async () => {
			await br.b.context.clearCookies();
			flow = await signIn(br.page, BASE_A, U_TOTP);
			await br.page.click('#recovery-section summary');
			await br.page.fill('#recovery', totp.recovery[0]);
			const resp = await submit(br.page, '#verify-recovery', '/mfa');
			eq(resp.status(), 401, 'POST /mfa with a used recovery code');
			eq(await text(br.page, '#error'), T.errCode[0], '#error text');
		});
		await step('the browser closes', async () => {
			if (br !== null)
				await br.close();
		}, { critical: false, always: true });
	}

	// ===== 4. Japanese and English ==================================================
	scenario('4. /mfa and /mfa/setup in Japanese (Accept-Language: ja) and English ' +
	    '(?lang=en)');
	{
		let br = null, flow = null;
		// Loads the page again with ?lang=..., keeping p.
		const lang = async (pathname, l) => {
			const resp = await br.page.goto(`${flow.base}${pathname}?p=${flow.p}&lang=${l}`);
			eq(resp.status(), 200, `GET ${pathname}?lang=${l}`);
			eq(await br.page.getAttribute('html', 'lang'), l, 'html lang');
			return l === 'ja' ? 0 : 1;
		};
		const heading = async (title, i) => {
			eq(await text(br.page, 'h1'), title[i], 'h1');
			assert((await br.page.title()).startsWith(title[i] + T.siteSep),
			    `<title> ${await br.page.title()}`);
		};
		await step(`${U_NONE} (no factor), Japanese by Accept-Language: title, ` +
		    '#no-factor, a#setup, the helpdesk code section', async () => {
			br = await freshBrowser('i18n');
			flow = await signIn(br.page, BASE_A, U_NONE);
			eq(await br.page.getAttribute('html', 'lang'), 'ja', 'html lang');
			const i = 0;
			await heading(T.title, i);
			eq(await text(br.page, '#no-factor'), T.noFactor[i], '#no-factor');
			eq(await text(br.page, 'a#setup'), T.setupNow[i], 'a#setup');
			eq(await text(br.page, '#bypass-section summary'), T.bypass[i], 'bypass summary');
			eq(await text(br.page, '#verify-bypass'), T.verify[i], '#verify-bypass');
		});
		await step('the same page with ?lang=en is English', async () => {
			const i = await lang('/mfa', 'en');
			await heading(T.title, i);
			eq(await text(br.page, '#no-factor'), T.noFactor[i], '#no-factor');
			eq(await text(br.page, 'a#setup'), T.setupNow[i], 'a#setup');
			eq(await text(br.page, '#bypass-section summary'), T.bypass[i], 'bypass summary');
			eq(await text(br.page, '#verify-bypass'), T.verify[i], '#verify-bypass');
		});
		await step('/mfa/setup in English (kh_lang kept), then ?lang=ja in Japanese: ' +
		    'title, TOTP and passkey buttons', async () => {
			await Promise.all([br.page.waitForURL((u) => u.pathname === '/mfa/setup'),
			    br.page.click('a#setup')]);
			for (const [i, go] of [[1, false], [0, true]]) {
				if (go)
					await lang('/mfa/setup', 'ja');
				eq(await br.page.getAttribute('html', 'lang'), ['ja', 'en'][i], 'html lang');
				await heading(T.setupTitle, i);
				eq(await text(br.page, '#totp-begin'), T.totpBegin[i], '#totp-begin');
				eq(await text(br.page, '#passkey-register'), T.passkeyRegister[i],
				    '#passkey-register');
				eq(await text(br.page, 'label[for="passkey-name"]'), T.passkeyName[i],
				    'passkey name label');
				eq(await br.page.getAttribute('#webauthn', 'data-msg-cancelled'),
				    T.cancelled[i], 'data-msg-cancelled');
			}
		});
		await step(`${U_TOTP} (TOTP): the code form in Japanese and English`, async () => {
			assert(totp?.recovery, 'scenario 1 did not enrol TOTP');
			await br.b.context.clearCookies();
			flow = await signIn(br.page, BASE_A, U_TOTP);
			for (const l of ['ja', 'en']) {
				const i = l === 'ja' ? 0 : 1;
				if (l === 'en')
					await lang('/mfa', 'en');
				eq(await br.page.getAttribute('html', 'lang'), l, 'html lang');
				await heading(T.title, i);
				eq(await text(br.page, 'main > p'), T.lead[i], 'lead paragraph');
				eq(await text(br.page, 'label[for="otp"]'), T.otpLabel[i], 'otp label');
				eq(await text(br.page, '#verify'), T.verify[i], '#verify');
				assert((await text(br.page, 'label:has(#remember)')).startsWith(T.remember[i]),
				    `remember label ${await text(br.page, 'label:has(#remember)')}`);
				eq(await text(br.page, '#recovery-section summary'), T.useRecovery[i],
				    'recovery summary');
			}
		}, { critical: false });
		await step('a wrong code on the English page: the error in English (401)', async () => {
			await br.page.fill('#otp', oathtool(totp.secret, now() - 7200));
			const resp = await submit(br.page, '#verify', '/mfa');
			eq(resp.status(), 401, 'POST /mfa');
			eq(await br.page.getAttribute('html', 'lang'), 'en', 'html lang');
			eq(await text(br.page, '#error'), T.errCode[1], '#error');
		}, { critical: false });
		await step(`${U_PK} (passkey): #passkey-signin in Japanese and English`, async () => {
			assert(cred !== null, 'scenario 2 did not register a passkey');
			await br.b.context.clearCookies();
			flow = await signIn(br.page, BASE_A, U_PK);
			for (const l of ['ja', 'en']) {
				const i = l === 'ja' ? 0 : 1;
				if (l === 'en')
					await lang('/mfa', 'en');
				await heading(T.title, i);
				eq(await text(br.page, '#passkey-signin'), T.passkeySignin[i],
				    '#passkey-signin');
				eq(await br.page.getAttribute('#webauthn', 'data-msg-cancelled'),
				    T.cancelled[i], 'data-msg-cancelled');
			}
		}, { critical: false });
		await step('the browser closes', async () => {
			if (br !== null)
				await br.close();
		}, { critical: false, always: true });
	}

	scenario('all browsers');
	for (const b of open) {	// left open by a failed scenario
		diag(`closing a browser left open (${b.profile})`);
		await b.close().catch(() => {});
		open.delete(b);
	}
	await step('nothing requested outside the IdPs and the application; no script error, ' +
	    'no CSP violation', async () => {
		eq(foreign.length, 0, `foreign requests: ${foreign.slice(0, 5).join(' ')}`);
		eq(pageErrors.length, 0, `page errors: ${pageErrors.slice(0, 3).join(' | ')}`);
		eq(cspErrors.length, 0, `CSP: ${cspErrors.slice(0, 3).join(' | ')}`);
	}, { critical: false, always: true });
	await step(`${browsers} Chromium instances started, all closed, their profiles removed`,
	    async () => {
		eq(open.size, 0, 'browsers still open');
		const left = fs.readdirSync(process.env.TMPDIR || '/tmp')
		    .filter((d) => d.startsWith('kh-chromium-'));
		eq(left.length, 0, `profiles left: ${left.join(' ')}`);
	}, { critical: false, always: true });
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
} finally {
	for (const b of open)
		await b.close().catch(() => {});
}
process.exit(code);
