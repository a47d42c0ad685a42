// The npm openid-client library (v6) as a relying party of kakehashid:
// discovery, authorization code flow with PKCE (the browser part walked with
// fetch and a cookie jar, our login form posted with its csrf), ID token
// validation by the library, userinfo, refresh, introspection, revocation,
// and RP-initiated logout through the end-session URL it builds.
// Driven by tests/integration/test_oidc_rp.py: KH_IDP, KH_CLIENT_ID,
// KH_CLIENT_SECRET, KH_REDIRECT_URI, KH_USER, KH_PASSWORD, KH_EXPECT_NAME.
// KH_OPENID_CLIENT may name the package's build/index.js (a scratch install).
// Prints TAP lines without a plan.
import { pathToFileURL } from 'node:url';

const E = process.env;
const client = await import(E.KH_OPENID_CLIENT ? pathToFileURL(E.KH_OPENID_CLIENT).href : 'openid-client');
let failed = 0;
function ok(cond, name, detail) {
	console.log(`${cond ? 'ok' : 'not ok'} - ${name}`);
	if (!cond) {
		failed++;
		if (detail !== undefined)
			for (const l of String(detail).split('\n').slice(0, 15))
				console.log(`#   ${l}`);
	}
}

// ---- a tiny browser: one cookie jar for the IdP, manual redirects ----
const jar = new Map();
async function get(url, init = {}) {
	const headers = { ...(init.headers ?? {}), 'accept-language': 'ja' };
	if (jar.size)
		headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
	const r = await fetch(url, { ...init, headers, redirect: 'manual' });
	for (const sc of r.headers.getSetCookie()) {
		const [nv] = sc.split(';');
		const i = nv.indexOf('=');
		const [k, v] = [nv.slice(0, i).trim(), nv.slice(i + 1)];
		if (v === '' || /max-age=0/i.test(sc))
			jar.delete(k);
		else
			jar.set(k, v);
	}
	return r;
}
// Follows redirects (and our Refresh page) until the URL leaves the IdP.
async function walk(url, init) {
	let r = await get(url, init);
	for (let i = 0; i < 15; i++) {
		const refresh = r.status === 200 && r.headers.get('refresh');
		const loc = r.headers.get('location') ?? (refresh ? refresh.split('url=')[1].trim() : null);
		if (!loc)
			return { r, url };
		url = new URL(loc, url).href;
		if (!url.startsWith(E.KH_IDP))
			return { r, url };
		r = await get(url);
	}
	throw new Error('redirect loop');
}

try {
	const config = await client.discovery(new URL(E.KH_IDP), E.KH_CLIENT_ID, E.KH_CLIENT_SECRET,
	    client.ClientSecretBasic(E.KH_CLIENT_SECRET), { execute: [client.allowInsecureRequests] });
	ok(config.serverMetadata().issuer === E.KH_IDP, 'discovery: issuer');

	const verifier = client.randomPKCECodeVerifier();
	const challenge = await client.calculatePKCECodeChallenge(verifier);
	const state = client.randomState();
	const nonce = client.randomNonce();
	const authUrl = client.buildAuthorizationUrl(config, {
		redirect_uri: E.KH_REDIRECT_URI, scope: 'openid profile email offline_access',
		code_challenge: challenge, code_challenge_method: 'S256', state, nonce,
	});
	let { r } = await walk(authUrl.href);
	const html = await r.text();
	const csrf = html.match(/name="csrf" value="([^"]+)"/)?.[1];
	const p = html.match(/name="p" value="([^"]+)"/)?.[1];
	ok(csrf && p, 'login page with csrf and pending id', html.slice(0, 300));
	const form = new URLSearchParams({ csrf, p, username: E.KH_USER, password: E.KH_PASSWORD });
	const back = await walk(`${E.KH_IDP}/login`, {
		method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' },
	});
	ok(back.url.startsWith(E.KH_REDIRECT_URI + '?'), 'back at the redirect_uri with a code', back.url);

	const tokens = await client.authorizationCodeGrant(config, new URL(back.url), {
		pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
	});
	const claims = tokens.claims();
	ok(claims.sub === E.KH_USER && claims.name === E.KH_EXPECT_NAME,
	    'code flow + PKCE: ID token validated by openid-client (iss, aud, nonce, signature)', JSON.stringify(claims));
	ok(tokens.refresh_token, 'refresh token issued for offline_access');

	const ui = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
	ok(ui.name === E.KH_EXPECT_NAME && ui.email, 'userinfo', JSON.stringify(ui));

	const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
	ok(refreshed.access_token && refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token,
	    'refresh: new access token, rotated refresh token');

	const intro = await client.tokenIntrospection(config, refreshed.access_token);
	ok(intro.active === true && intro.client_id === E.KH_CLIENT_ID, 'introspection: active', JSON.stringify(intro));

	await client.tokenRevocation(config, refreshed.refresh_token);
	let refused = false;
	try {
		await client.refreshTokenGrant(config, refreshed.refresh_token);
	} catch (e) {
		refused = e.error === 'invalid_grant';
	}
	ok(refused, 'revocation: the revoked refresh token is refused');
	const intro2 = await client.tokenIntrospection(config, refreshed.access_token);
	ok(intro2.active === false, 'revocation of the refresh token also ends its access tokens');

	const endUrl = client.buildEndSessionUrl(config, {
		id_token_hint: tokens.id_token, post_logout_redirect_uri: 'http://127.0.0.1:9/bye', state: 'bye-state',
	});
	const out = await walk(endUrl.href);
	ok(out.url === 'http://127.0.0.1:9/bye?state=bye-state', 'end-session URL: logged out and sent back with state', out.url);
	const again = await walk(authUrl.href);
	ok((await again.r.text()).includes('name="password"'), 'after logout the IdP asks for the password again');
} catch (e) {
	ok(false, 'openid-client flow', e.stack + (e.cause ? `\ncause: ${JSON.stringify(e.cause)}` : ''));
}
process.exit(failed ? 1 : 0);
