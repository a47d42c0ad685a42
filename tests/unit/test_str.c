#include <string.h>

#include "common/errors.h"
#include "common/str.h"
#include "tests/unit/tap.h"

#define V(s) kh_utf8_valid_text(s, sizeof(s) - 1)

int
main(void)
{
	long v;
	int b;
	char small[4];

	ok(V("yamada.taro"), "ascii is valid");
	ok(V("山田太郎"), "Japanese is valid");
	ok(V("josé"), "latin-1 range is valid");
	ok(V("😀"), "4-byte sequence is valid");
	ok(!V("admin\xC3"), "truncated sequence rejected");
	ok(!V("a\xC0\xAF"), "overlong '/' rejected");
	ok(!V("\xE0\x80\xAF"), "3-byte overlong rejected");
	ok(!V("\xED\xA0\x80"), "UTF-16 surrogate rejected");
	ok(!V("\xF4\x90\x80\x80"), "above U+10FFFF rejected");
	ok(!V("\xFF"), "0xFF rejected");
	ok(!V("a\nb"), "newline rejected");
	ok(!V("a\x7f"), "DEL rejected");
	ok(!V("\xC2\x85"), "C1 control rejected");
	ok(!kh_utf8_valid_text("a\0b", 3), "embedded NUL rejected");
	ok(kh_parse_long("42", 0, 100, &v) == KH_OK && v == 42, "parse_long");
	ok(kh_parse_long("101", 0, 100, &v) == KH_ERR_INVALID, "parse_long above max");
	ok(kh_parse_long("4x", 0, 100, &v) == KH_ERR_INVALID, "parse_long trailing junk");
	ok(kh_parse_long("", 0, 100, &v) == KH_ERR_INVALID, "parse_long empty");
	ok(kh_parse_long("99999999999999999999999", 0, 100, &v) == KH_ERR_INVALID,
	    "parse_long overflow");
	ok(kh_parse_bool("Yes", &b) == KH_OK && b == 1, "parse_bool yes");
	ok(kh_parse_bool("off", &b) == KH_OK && b == 0, "parse_bool off");
	ok(kh_parse_bool("maybe", &b) == KH_ERR_INVALID, "parse_bool rejects other words");
	ok(kh_strlcpy(small, "abcdef", sizeof(small)) == 6 && strcmp(small, "abc") == 0,
	    "strlcpy truncates and terminates");
	return tap_done();
}
