// Headless Chromium signs in to a real relying party (Apache +
// mod_auth_openidc) through kakehashid's OpenID Provider, and back out.
// Driven by tests/integration/test_oidc_rp.py, which passes:
//   KH_RP_URL (a protected CGI printing OIDC_CLAIM_*), KH_IDP (our base URL),
//   KH_USER, KH_PASSWORD, KH_EXPECT_NAME.
// Prints TAP lines (no plan: the Python driver numbers them).
import { launchBrowser } from './lib/browser.mjs';

const { KH_RP_URL, KH_IDP, KH_USER, KH_PASSWORD, KH_EXPECT_NAME } = process.env;
let failed = 0;
function ok(cond, name, detail) {
	console.log(`${cond ? 'ok' : 'not ok'} - ${name}`);
	if (!cond) {
		failed++;
		if (detail)
			for (const l of String(detail).split('\n').slice(0, 20))
				console.log(`#   ${l}`);
	}
}

const b = await launchBrowser({ locale: 'ja-JP' });
try {
	const page = b.context.pages()[0] ?? await b.context.newPage();
	await page.goto(KH_RP_URL);
	ok(page.url().startsWith(`${KH_IDP}/login`), 'RP sends the browser to our login page', page.url());
	await page.fill('#username', KH_USER);
	await page.fill('#password', KH_PASSWORD);
	await Promise.all([page.waitForURL(KH_RP_URL), page.click('#submit')]);
	const text = await page.locator('body').innerText();
	ok(text.includes(`OIDC_CLAIM_sub=${KH_USER}`), 'signed in at the RP: sub = uid', text.slice(0, 600));
	ok(text.includes(`OIDC_CLAIM_name=${KH_EXPECT_NAME}`), 'Japanese display name reaches the RP', text.slice(0, 600));

	// Second RP visit after clearing only the RP's cookies: SSO, no password.
	const rpOrigin = new URL(KH_RP_URL).origin;
	const cookies = await b.context.cookies();
	await b.context.clearCookies();
	await b.context.addCookies(cookies.filter((c) => !rpOrigin.includes(`:${new URL(KH_RP_URL).port}`) ||
	    !c.name.startsWith('mod_auth_openidc')));
	await page.goto(KH_RP_URL);
	const again = await page.locator('body').innerText();
	ok(page.url() === KH_RP_URL && again.includes(`OIDC_CLAIM_sub=${KH_USER}`),
	    'new RP session via the SSO session (no password)', page.url());

	// RP-initiated logout: mod_auth_openidc -> /oidc/logout -> back to the RP.
	const out = `${rpOrigin}/loggedout.html`;
	await page.goto(`${rpOrigin}/protected/redirect_uri?logout=${encodeURIComponent(out)}`);
	await page.waitForURL(out);
	ok((await page.locator('#out').innerText()).includes('logged out'), 'RP-initiated logout returns to the RP');
	await page.goto(KH_RP_URL);
	ok(page.url().startsWith(`${KH_IDP}/login`), 'after logout the IdP asks for the password again', page.url());
} catch (e) {
	ok(false, 'browser flow', e.stack);
} finally {
	await b.close();
}
process.exit(failed ? 1 : 0);
