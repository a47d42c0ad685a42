#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/errors.h"
#include "tests/unit/tap.h"

#define SECRET "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define GOOD                                                                                       \
	"[server]\nbase_url = https://idp.example.jp\n"                                            \
	"[ldap]\nuris = ldap://127.0.0.1:3890\nbase_dn = dc=example,dc=jp\n"                       \
	"bind_dn = cn=svc,dc=example,dc=jp\nbind_password = hunter2\n"                             \
	"[session]\nsecret = " SECRET "\n"

static char path[64];

static int
load(const char *text, struct kh_config **cfg, char **err)
{
	FILE *fp;
	int fd;

	snprintf(path, sizeof(path), "/tmp/kh-cfg-XXXXXX");
	if ((fd = mkstemp(path)) < 0 || (fp = fdopen(fd, "w")) == NULL)
		return KH_ERR_IO;
	fputs(text, fp);
	fclose(fp);
	fd = kh_config_load(path, cfg, err);
	unlink(path);
	return fd;
}

static int
fails_with(const char *text, const char *needle)
{
	struct kh_config *cfg = NULL;
	char *err = NULL;
	int r = load(text, &cfg, &err), match;

	match = r == KH_ERR_CONFIG && cfg == NULL && err != NULL && strstr(err, needle) != NULL;
	if (!match)
		printf("# got r=%d err=%s\n", r, err ? err : "(null)");
	free(err);
	kh_config_free(cfg);
	return match;
}

int
main(void)
{
	struct kh_config *cfg = NULL;
	char *err = NULL, *printed = NULL;
	size_t plen = 0;
	FILE *mem;

	ok(load(GOOD, &cfg, &err) == KH_OK && cfg != NULL, "good config loads");
	ok(cfg && strcmp(cfg->listen_host, "127.0.0.1") == 0 && cfg->listen_port == 8080,
	    "listen default applied and split");
	ok(cfg && cfg->threads == 8 && cfg->session_idle_timeout == 1800, "integer defaults");
	ok(cfg && cfg->secure_cookies == 1, "https base_url gives Secure cookies");
	ok(cfg && cfg->session_key_len == 32, "session secret decoded from hex");
	ok(cfg && strcmp(cfg->ldap_login_attribute, "uid") == 0, "string default");
	mem = open_memstream(&printed, &plen);
	kh_config_print(cfg, mem);
	fclose(mem);
	ok(printed && strstr(printed, "hunter2") == NULL && strstr(printed, SECRET) == NULL,
	    "-T output hides secrets");
	ok(printed && strstr(printed, "bind_password = (redacted)") != NULL,
	    "-T marks secrets redacted");
	ok(printed && strstr(printed, "base_url = https://idp.example.jp") != NULL,
	    "-T prints values");
	free(printed);
	kh_config_free(cfg);
	free(err);

	ok(load(
	       "[server]\nbase_url = http://127.0.0.1:8080\n[ldap]\nuris = ldap://x\nbase_dn = dc=x\n"
	       "[session]\nsecret = " SECRET "\n",
	       &cfg, &err) == KH_OK &&
		cfg->secure_cookies == 0,
	    "plain http on loopback allowed without Secure cookies");
	kh_config_free(cfg);
	free(err);

	ok(fails_with("[server]\nbase_url = https://x\n", "[ldap] uris is required"),
	    "missing required key");
	ok(fails_with(GOOD "[server]\nthreads = 0\n", "threads: expected an integer from 1 to 256"),
	    "integer below range");
	ok(fails_with(GOOD "[server]\nthreads = many\n", "expected an integer"),
	    "integer not a number");
	ok(fails_with(GOOD "[bogus]\nkey = 1\n", "unknown key [bogus] key"), "unknown key");
	ok(fails_with(GOOD "[ldap]\nuris = ldap://other\n", "set twice"), "duplicate key");
	ok(fails_with("[server]\nbase_url = http://idp.example.jp\n[ldap]\nuris = x\nbase_dn = y\n"
		      "[session]\nsecret = " SECRET "\n",
	       "plain http:// only on loopback"),
	    "plain http off loopback refused");
	ok(fails_with("[server]\nbase_url = https://x/\n[ldap]\nuris = x\nbase_dn = y\n"
		      "[session]\nsecret = " SECRET "\n",
	       "trailing slash"),
	    "base_url trailing slash");
	ok(fails_with("[server]\nbase_url = https://x\n[ldap]\nuris = x\nbase_dn = y\n"
		      "[session]\nsecret = abcd\n",
	       "openssl rand -hex 32"),
	    "short session secret");
	ok(fails_with("[server]\nbase_url = https://x\n[ldap]\nuris = x\nbase_dn = y\n"
		      "bind_dn = cn=svc\n[session]\nsecret = " SECRET "\n",
	       "bind_password is empty"),
	    "service DN without password refused");
	ok(fails_with(GOOD "[log]\nlevel = loud\n", "[log] level"), "bad log level");
	ok(fails_with("[server]\nbase_url = https://x\n[ldap]\nuris = x\nbase_dn = y\n[session]\n"
		      "secret = 0000000000000000000000000000000000000000000000000000000000000000\n",
	       "placeholder"),
	    "all-zero example secret refused");
	ok(fails_with(GOOD "[server]\nbase_url2\n", "syntax error"), "line without =");
	ok(fails_with(GOOD "[login]\ndefault_lang = fr\n", "default_lang"), "unsupported language");
	ok(fails_with(GOOD "[server]\nlisten = nowhere\n", "host:port"), "listen without port");
	ok(fails_with(GOOD "[ldap]\nlogin_attribute = uid)(x\n", "login_attribute"),
	    "filter chars in attribute name");
	{
		struct kh_config *c2 = NULL;
		char *e2 = NULL;
		ok(kh_config_load("/nonexistent/kakehashi.conf", &c2, &e2) == KH_ERR_CONFIG && e2 &&
			strstr(e2, "cannot open") != NULL,
		    "missing file reported");
		free(e2);
	}
	return tap_done();
}
