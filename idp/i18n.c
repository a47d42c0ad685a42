#include "idp/i18n.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* { Japanese, English } */
static const char *const msgs[M__COUNT][2] = {
	[M_SITE_NAME] = { "架け橋 統合認証", "Kakehashi Single Sign-On" },
	[M_LOGIN_TITLE] = { "サインイン", "Sign in" },
	[M_LOGIN_LEAD] = { "職員IDとパスワード（統合認証基盤のもの）を入力してください。",
	    "Enter your staff ID and the password of the integrated directory." },
	[M_USERNAME] = { "職員ID", "Staff ID" },
	[M_PASSWORD] = { "パスワード", "Password" },
	[M_SIGN_IN] = { "サインイン", "Sign in" },
	[M_SIGNED_IN_TITLE] = { "サインイン済み", "Signed in" },
	[M_SIGNED_IN_AS] = { "次のユーザーとしてサインインしています:", "You are signed in as:" },
	[M_SIGNED_IN_NOTE] = { "このまま各クラウドサービスを開くと、再度サインインせずに利用できます。",
	    "Cloud services you open now will sign you in without asking again." },
	[M_SIGN_OUT] = { "サインアウト", "Sign out" },
	[M_LOGOUT_TITLE] = { "サインアウト", "Sign out" },
	[M_LOGOUT_CONFIRM] = { "すべてのサービスからサインアウトしますか？",
	    "Sign out of all services?" },
	[M_LOGGED_OUT] = { "サインアウトしました。ブラウザを閉じても安全です。",
	    "You have signed out. It is safe to close the browser." },
	[M_SIGN_IN_AGAIN] = { "もう一度サインインする", "Sign in again" },
	[M_ERR_INVALID] = { "職員IDまたはパスワードが正しくありません。",
	    "The staff ID or password is incorrect." },
	[M_ERR_MISSING_USER] = { "職員IDを入力してください。", "Enter your staff ID." },
	[M_ERR_MISSING_PASSWORD] = { "パスワードを入力してください。", "Enter your password." },
	[M_ERR_BAD_CHARS] = { "職員IDに使用できない文字が含まれています。",
	    "The staff ID contains characters that are not allowed." },
	[M_ERR_TOO_LONG] = { "入力が長すぎます。", "The input is too long." },
	[M_ERR_CSRF] = { "フォームの有効期限が切れました。もう一度入力してください。",
	    "The form has expired. Please enter your details again." },
	[M_ERR_THROTTLED] = { "サインインの失敗が続いたため、一時的にサインインを停止しています。しばらくしてから再度お試しください。",
	    "Too many failed sign-in attempts. Sign-in is paused for a while; please try again later." },
	[M_ERR_LOCKED] = { "このアカウントはロックされています。ヘルプデスクに連絡してください。",
	    "This account is locked. Please contact the helpdesk." },
	[M_ERR_EXPIRED] = { "パスワードの有効期限が切れています。パスワードを変更してから再度サインインしてください。",
	    "Your password has expired. Change it, then sign in again." },
	[M_ERR_MUST_CHANGE] = { "初期パスワードまたはリセットされたパスワードです。パスワードを変更してから再度サインインしてください。",
	    "Your password was reset and must be changed before you sign in." },
	[M_ERR_DISABLED] = { "このアカウントは無効化されています。ヘルプデスクに連絡してください。",
	    "This account is disabled. Please contact the helpdesk." },
	[M_ERR_ACCOUNT_EXPIRED] = { "このアカウントは有効期限が切れています。ヘルプデスクに連絡してください。",
	    "This account has expired. Please contact the helpdesk." },
	[M_ERR_RESTRICTED] = { "現在の時間帯または端末からはサインインできません。",
	    "You may not sign in at this time or from this device." },
	[M_CHANGE_PASSWORD_AT] = { "パスワードの変更はこちら", "Change your password here" },
	[M_CONTACT_HELPDESK] = { "お問い合わせ先", "Helpdesk" },
	[M_WARN_GRACE] = { "パスワードの有効期限が切れています。残りの猶予サインイン回数:",
	    "Your password has expired. Grace sign-ins left:" },
	[M_WARN_EXPIRING] = { "パスワードの有効期限が近づいています。残り日数:",
	    "Your password expires soon. Days left:" },
	[M_CONTINUE] = { "続ける", "Continue" },
	[M_UNAVAILABLE_TITLE] = { "ただいま利用できません", "Temporarily unavailable" },
	[M_UNAVAILABLE_BODY] = { "認証サービスの一部に接続できません。しばらくしてから再度お試しください。解決しない場合は、下の参照番号をヘルプデスクにお伝えください。",
	    "Part of the sign-in service cannot be reached. Please try again in a few minutes. If it persists, give the reference below to the helpdesk." },
	[M_REFERENCE_ID] = { "参照番号", "Reference" },
	[M_NOT_FOUND_TITLE] = { "ページが見つかりません", "Page not found" },
	[M_NOT_FOUND_BODY] = { "指定されたページは存在しません。",
	    "The page you asked for does not exist." },
	[M_BAD_REQUEST_TITLE] = { "不正なリクエスト", "Bad request" },
	[M_BAD_REQUEST_BODY] = { "リクエストの形式が正しくありません。",
	    "The request was malformed." },
	[M_METHOD_TITLE] = { "この操作は許可されていません", "Method not allowed" },
	[M_TOO_LARGE_TITLE] = { "リクエストが大きすぎます", "Request too large" },
	[M_INTERNAL_TITLE] = { "エラーが発生しました", "Something went wrong" },
	[M_INTERNAL_BODY] = { "処理中にエラーが発生しました。下の参照番号をヘルプデスクにお伝えください。",
	    "An error occurred. Please give the reference below to the helpdesk." },
	[M_LANG_SWITCH] = { "English", "日本語" },
	[M_RETRY_IN] = { "再試行まで約", "Try again in about" },
	[M_MINUTES] = { "分", "minutes" },
	[M_PENDING_EXPIRED_TITLE] = { "サインイン要求の有効期限切れ", "Sign-in request expired" },
	[M_PENDING_EXPIRED_BODY] = { "このサインイン要求は有効期限が切れたか、既に使用されています。利用していたアプリケーションに戻り、もう一度操作してください。",
	    "This sign-in request has expired or was already used. Go back to the application and try again." },
	[M_SKIP_TO_FORM] = { "本文へ移動", "Skip to content" },
	[M_MFA_TITLE] = { "二段階認証", "Two-step verification" },
	[M_MFA_LEAD] = { "サインインを完了するには、登録済みの二つ目の要素で本人確認してください。",
	    "To finish signing in, confirm it is you with your second factor." },
	[M_MFA_OTP_LABEL] = { "認証アプリに表示されている6桁のコード",
	    "6-digit code from your authenticator app" },
	[M_MFA_VERIFY] = { "確認", "Verify" },
	[M_MFA_REMEMBER] = { "この端末を記憶する", "Remember this device" },
	[M_DAYS] = { "日間", "days" },
	[M_MFA_PASSKEY_SIGNIN] = { "パスキーで確認", "Use a passkey" },
	[M_MFA_RECOVERY_LABEL] = { "リカバリーコード", "Recovery code" },
	[M_MFA_USE_RECOVERY] = { "リカバリーコードで確認", "Verify with a recovery code" },
	[M_MFA_NO_FACTOR] = { "二つ目の要素（認証アプリまたはパスキー）がまだ登録されていません。",
	    "You have not set up a second factor (an authenticator app or a passkey) yet." },
	[M_MFA_SETUP_NOW] = { "今すぐ設定する", "Set one up now" },
	[M_MFA_ASK_HELPDESK] = { "端末を紛失した場合などは、ヘルプデスクから受け取った一時コードを入力してください。",
	    "If you lost your device, enter the one-time code the helpdesk gave you." },
	[M_MFA_BYPASS_LABEL] = { "ヘルプデスクの一時コード", "Helpdesk one-time code" },
	[M_MFA_ERR_CODE] = { "コードが正しくないか、すでに使用されています。",
	    "The code is incorrect or has already been used." },
	[M_MFA_ERR_LOCKED] = { "確認の失敗が続いたため、二段階認証を一時的にロックしています。しばらくしてから再度お試しいただくか、ヘルプデスクに連絡してください。",
	    "Too many failed attempts: two-step verification is locked for a while. Try again later or contact the helpdesk." },
	[M_MFA_ERR_MISSING] = { "コードを入力してください。", "Enter the code." },
	[M_MFA_SETUP_TITLE] = { "二段階認証の設定", "Two-step verification settings" },
	[M_MFA_TOTP] = { "認証アプリ（TOTP）", "Authenticator app (TOTP)" },
	[M_MFA_ENABLED] = { "有効", "On" },
	[M_MFA_NOT_SET] = { "未設定", "Not set up" },
	[M_MFA_TOTP_BEGIN] = { "認証アプリを設定する", "Set up an authenticator app" },
	[M_MFA_TOTP_REPLACE] = { "認証アプリを設定し直す", "Set up the authenticator app again" },
	[M_MFA_TOTP_SCAN] = { "認証アプリでこのQRコードを読み取るか、下の秘密鍵を入力してください。",
	    "Scan this QR code with your authenticator app, or type in the key below." },
	[M_MFA_TOTP_SECRET] = { "秘密鍵", "Key" },
	[M_MFA_TOTP_CONFIRM] = { "アプリに表示された6桁のコードを入力して設定を完了してください。",
	    "Enter the 6-digit code the app shows to finish." },
	[M_MFA_CONFIRM] = { "設定を完了", "Finish set-up" },
	[M_MFA_PASSKEYS] = { "パスキー", "Passkeys" },
	[M_MFA_PASSKEY_NAME] = { "パスキーの名前（任意）", "Name for this passkey (optional)" },
	[M_MFA_PASSKEY_REGISTER] = { "パスキーを登録する", "Add a passkey" },
	[M_MFA_PASSKEY_NONE] = { "登録されたパスキーはありません。", "No passkeys yet." },
	[M_MFA_RECOVERY] = { "リカバリーコード", "Recovery codes" },
	[M_MFA_RECOVERY_LEFT] = { "未使用のリカバリーコード:", "Unused recovery codes:" },
	[M_MFA_RECOVERY_GENERATE] = { "新しいリカバリーコードを発行する（古いコードは無効になります）",
	    "Make new recovery codes (the old ones stop working)" },
	[M_MFA_RECOVERY_SHOWN] = { "次のリカバリーコードを安全な場所に控えてください。各コードは一度だけ使えます。この画面は二度と表示されません。",
	    "Write these recovery codes down and keep them safe. Each works once. They will not be shown again." },
	[M_MFA_ENROL_REQUIRED] = { "ヘルプデスクの一時コードで本人確認しました。続けるには二つ目の要素を登録してください。",
	    "You used a helpdesk one-time code. Set up a second factor to continue." },
	[M_MFA_ENROL_NOT_HERE] = { "このネットワークからは最初の二つ目の要素を登録できません。庁内ネットワークから登録するか、ヘルプデスクに一時コードを依頼してください。",
	    "A first second factor cannot be set up from this network. Set it up from the government network, or ask the helpdesk for a one-time code." },
	[M_MFA_ENROLLED] = { "二つ目の要素を登録しました。", "Your second factor is set up." },
	[M_MFA_PASSKEY_CANCELLED] = { "パスキーの操作が取り消されました。",
	    "The passkey request was cancelled." },
	[M_MFA_PASSKEY_FAILED] = { "パスキーを確認できませんでした。",
	    "The passkey could not be verified." },
	[M_MFA_UNSUPPORTED] = { "このブラウザはパスキーに対応していません。",
	    "This browser does not support passkeys." },
	[M_MFA_VERIFY_FIRST] = { "設定を変更するには、先に二段階認証で本人確認してください。",
	    "Confirm it is you with two-step verification before changing these settings." },
	[M_ACCESS_DENIED_TITLE] = { "アクセスできません", "Access denied" },
	[M_DENY_MANAGED_DEVICE] = { "このアプリは、組織が管理する端末からのみ利用できます。",
	    "This app can be used only from a device managed by the organisation." },
	[M_DENY_NETWORK] = { "このアプリは、現在のネットワークからは利用できません。",
	    "This app cannot be used from your current network." },
	[M_DENY_GROUP] = { "このアプリを利用する権限がありません。",
	    "You are not permitted to use this app." },
	[M_DENY_POLICY] = { "組織のアクセスポリシーにより、このアプリへのアクセスは許可されていません。",
	    "The organisation's access policy does not allow access to this app." },
	[M_ZONE] = { "ネットワーク", "Network" },
	[M_DEVICE] = { "端末", "Device" },
	[M_DEVICE_MANAGED] = { "管理端末", "Managed device" },
	[M_DEVICE_REMEMBERED] = { "記憶済みの端末", "Remembered device" },
	[M_DEVICE_UNMANAGED] = { "管理されていない端末", "Unmanaged device" },
	[M_MFA_PASSKEY_EXISTS] = { "このパスキーは既に登録されています。",
	    "This passkey is already registered." },
	[M_MFA_RECOVERY_NEEDED] = { "リカバリーコードがありません。端末を紛失したときに備えて、今すぐ発行して控えてください。",
	    "You have no recovery codes. Make them now and keep them safe in case you lose your device." },
	[M_APPLICATION] = { "アプリ", "Application" },
};

const char *
kh_msg(enum kh_lang lang, enum kh_msg m)
{
	if ((unsigned)m >= M__COUNT || (unsigned)lang > KH_LANG_EN || msgs[m][lang] == NULL)
		return "";
	return msgs[m][lang];
}

const char *
kh_lang_code(enum kh_lang lang)
{
	return lang == KH_LANG_EN ? "en" : "ja";
}

int
kh_lang_parse(const char *s)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "ja") == 0)
		return KH_LANG_JA;
	if (strcmp(s, "en") == 0)
		return KH_LANG_EN;
	return -1;
}

/* Accept-Language: ja-JP,ja;q=0.9,en;q=0.8 . Caps: 512 bytes, 32 entries. */
enum kh_lang
kh_lang_from_accept(const char *h, enum kh_lang fallback)
{
	int best_q[2] = { -1, -1 }, entries = 0;
	const char *p = h;

	if (h == NULL || strlen(h) > 512)
		return fallback;
	while (*p != '\0' && entries++ < 32) {
		char tag[16];
		size_t tl = 0;
		int q = 1000, which = -1;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		while (*p != '\0' && *p != ',' && *p != ';' && *p != ' ') {
			if (tl < sizeof(tag) - 1)
				tag[tl++] = (char)tolower((unsigned char)*p);
			p++;
		}
		tag[tl] = '\0';
		while (*p == ' ')
			p++;
		if (*p == ';') {
			p++;
			while (*p == ' ')
				p++;
			if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
				p += 2;
				if (*p == '0' || *p == '1') {
					int whole = *p - '0', frac = 0, digits = 0;
					p++;
					if (*p == '.') {
						p++;
						while (isdigit((unsigned char)*p) && digits < 3) {
							frac = frac * 10 + (*p - '0');
							digits++;
							p++;
						}
						while (digits++ < 3)
							frac *= 10;
					}
					q = whole * 1000 + frac;
					if (q > 1000)
						q = 1000;
				} else
					q = 0;
			}
		}
		while (*p != '\0' && *p != ',')
			p++;
		if (strcmp(tag, "ja") == 0 || strncmp(tag, "ja-", 3) == 0)
			which = KH_LANG_JA;
		else if (strcmp(tag, "en") == 0 || strncmp(tag, "en-", 3) == 0)
			which = KH_LANG_EN;
		if (which >= 0 && q > 0 && q > best_q[which])
			best_q[which] = q;
	}
	if (best_q[KH_LANG_JA] < 0 && best_q[KH_LANG_EN] < 0)
		return fallback;
	if (best_q[KH_LANG_JA] == best_q[KH_LANG_EN])
		return fallback;
	return best_q[KH_LANG_JA] > best_q[KH_LANG_EN] ? KH_LANG_JA : KH_LANG_EN;
}
