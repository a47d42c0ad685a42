#include <string.h>

#include "common/buf.h"
#include "common/errors.h"
#include "tests/unit/tap.h"

int
main(void)
{
	struct kh_buf b;
	char big[200];

	kh_buf_init(&b, 16);
	ok(strcmp(kh_buf_cstr(&b), "") == 0, "empty buffer reads as empty string");
	ok(kh_buf_append_str(&b, "hello") == KH_OK && b.len == 5, "append within cap");
	ok(kh_buf_appendf(&b, " %d", 42) == KH_OK && strcmp(kh_buf_cstr(&b), "hello 42") == 0,
	    "appendf formats");
	ok(kh_buf_append_str(&b, "123456789") == KH_ERR_TOO_LARGE, "append past cap refused");
	ok(strcmp(kh_buf_cstr(&b), "hello 42") == 0 && b.len == 8,
	    "refused append leaves buffer intact");
	ok(kh_buf_append_str(&b, "12345678") == KH_OK && b.len == 16, "append exactly to cap");
	ok(kh_buf_append(&b, "x", 1) == KH_ERR_TOO_LARGE, "one byte past cap refused");
	kh_buf_free(&b);
	ok(b.data == NULL && b.len == 0, "free clears");

	kh_buf_init(&b, 1024);
	kh_buf_append_html(&b, "<a href=\"x\">Tom & 'J'</a>");
	ok(strcmp(kh_buf_cstr(&b), "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;J&#39;&lt;/a&gt;") ==
		0,
	    "html escape covers & < > \" '");
	kh_buf_reset(&b);
	kh_buf_append_html(&b, "山田 太郎");
	ok(strcmp(kh_buf_cstr(&b), "山田 太郎") == 0, "html escape keeps UTF-8");
	kh_buf_reset(&b);
	kh_buf_append_urlenc(&b, "a b&c=/é");
	ok(strcmp(kh_buf_cstr(&b), "a%20b%26c%3D%2F%C3%A9") == 0, "url encode");
	kh_buf_free(&b);

	kh_buf_init(&b, 100);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ok(kh_buf_appendf(&b, "%s", big) == KH_ERR_TOO_LARGE && b.len == 0,
	    "appendf past cap refused");
	kh_buf_free(&b);
	return tap_done();
}
