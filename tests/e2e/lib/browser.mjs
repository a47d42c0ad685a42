// Launches Debian's headless Chromium through playwright-core, kept off the
// network as shared/TESTING.md (Chromium section) prescribes: a fresh profile
// whose Default/Preferences turn off the Google services TESTING.md lists,
// and flags that stop background traffic and resolve no name but localhost.
//
//   const b = await launchBrowser({ locale: 'ja-JP' });
//   const page = b.context.pages()[0] ?? await b.context.newPage();
//   ...
//   await b.close();   // closes Chromium and removes the profile
//
// KH_CHROMIUM overrides the binary; KH_NETLOG=FILE makes Chromium write a
// NetLog (every name resolution and socket it opens) for the caller to audit.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.KH_CHROMIUM || '/usr/bin/chromium';

// TESTING.md: the basic flags are not enough; all of these are needed.
export const CHROMIUM_ARGS = [
	'--headless',
	'--no-sandbox',
	'--disable-gpu',
	'--disable-quic',
	'--no-first-run',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync',
	'--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1',
	'--disable-extensions',
	'--disable-default-apps',
	'--disable-client-side-phishing-detection',
	'--disable-domain-reliability',
	'--no-pings',
	'--disable-breakpad',
	'--password-store=basic',
	'--disable-dev-shm-usage',
	'--no-proxy-server',
];

// Written to Default/Preferences before the first start (TESTING.md).
// alternate_error_pages off stops a DNS probe to a public resolver after
// any DNS error.
export const PREFERENCES = {
	alternate_error_pages: { enabled: false },
	credentials_enable_service: false,
	profile: { password_manager_enabled: false, password_manager_leak_detection: false },
	safebrowsing: { enabled: false },
	search: { suggest_enabled: false },
	translate: { enabled: false },
	net: { network_prediction_options: 2 },
};

function makeProfile() {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kh-chromium-'));
	fs.mkdirSync(path.join(dir, 'Default'), { recursive: true });
	fs.writeFileSync(path.join(dir, 'Default', 'Preferences'),
	    JSON.stringify(PREFERENCES), { mode: 0o600 });
	return dir;
}

function removeProfile(dir) {
	try {
		fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
	} catch {
		// best effort: a leftover temp profile is not a test failure
	}
}

// Returns { context, profile, close }. Options: locale (default ja-JP),
// acceptLanguage (default from locale), timeoutMs for every action.
export async function launchBrowser(opts = {}) {
	const locale = opts.locale ?? 'ja-JP';
	const acceptLanguage = opts.acceptLanguage ??
	    (locale.startsWith('ja') ? 'ja,en;q=0.5' : 'en,ja;q=0.5');
	const args = [...CHROMIUM_ARGS, `--lang=${locale}`];
	if (process.env.KH_NETLOG)
		args.push(`--log-net-log=${process.env.KH_NETLOG}`,
		    '--net-log-capture-mode=Default');
	const profile = makeProfile();
	let context;
	try {
		context = await chromium.launchPersistentContext(profile, {
			executablePath: CHROMIUM,
			headless: true,
			args,
			locale,
			extraHTTPHeaders: { 'Accept-Language': acceptLanguage },
			acceptDownloads: false,
			serviceWorkers: 'block',
			timeout: 60000,
		});
	} catch (e) {
		removeProfile(profile);
		throw e;
	}
	context.setDefaultTimeout(opts.timeoutMs ?? 15000);
	// Playwright kills Chromium on SIGINT/SIGTERM/SIGHUP; the profile goes too.
	const onExit = () => removeProfile(profile);
	process.once('exit', onExit);
	let closed = false;
	const close = async () => {
		if (closed)
			return;
		closed = true;
		try {
			await context.close();
		} finally {
			removeProfile(profile);
			process.removeListener('exit', onExit);
		}
	};
	return { context, profile, close };
}
