#include <string.h>

#include "idp/i18n.h"
#include "tests/unit/tap.h"

int
main(void)
{
	int m, missing = 0;

	ok(kh_lang_from_accept("ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7", KH_LANG_EN) == KH_LANG_JA,
	    "Japanese browser gets ja");
	ok(kh_lang_from_accept("en-US,en;q=0.9", KH_LANG_JA) == KH_LANG_EN,
	    "English browser gets en");
	ok(kh_lang_from_accept("en;q=0.5, ja;q=0.8", KH_LANG_EN) == KH_LANG_JA, "q-values decide");
	ok(kh_lang_from_accept("fr-FR,fr;q=0.9", KH_LANG_JA) == KH_LANG_JA, "neither: fallback ja");
	ok(kh_lang_from_accept("fr-FR,fr;q=0.9", KH_LANG_EN) == KH_LANG_EN, "neither: fallback en");
	ok(kh_lang_from_accept("ja;q=0, en", KH_LANG_JA) == KH_LANG_EN, "q=0 means not acceptable");
	ok(kh_lang_from_accept("EN-gb", KH_LANG_JA) == KH_LANG_EN, "tags are case-insensitive");
	ok(kh_lang_from_accept("jam", KH_LANG_EN) == KH_LANG_EN, "jam is not ja");
	ok(kh_lang_from_accept("", KH_LANG_JA) == KH_LANG_JA, "empty header: fallback");
	ok(kh_lang_from_accept(NULL, KH_LANG_EN) == KH_LANG_EN, "no header: fallback");
	ok(kh_lang_from_accept(";;;,,,q=,", KH_LANG_JA) == KH_LANG_JA, "garbage: fallback");
	ok(kh_lang_from_accept("en;q=1.5, ja;q=0.9", KH_LANG_JA) == KH_LANG_EN, "q above 1 clamps");
	ok(kh_lang_parse("ja") == KH_LANG_JA && kh_lang_parse("en") == KH_LANG_EN &&
		kh_lang_parse("EN") == -1 && kh_lang_parse("de") == -1 && kh_lang_parse(NULL) == -1,
	    "lang parameter parsing is strict");
	for (m = 0; m < M__COUNT; m++)
		if (*kh_msg(KH_LANG_JA, m) == '\0' || *kh_msg(KH_LANG_EN, m) == '\0')
			missing++;
	ok(missing == 0, "every message has Japanese and English text (%d missing)", missing);
	ok(strcmp(kh_msg(KH_LANG_JA, M_LOGIN_TITLE), "サインイン") == 0, "Japanese title");
	return tap_done();
}
