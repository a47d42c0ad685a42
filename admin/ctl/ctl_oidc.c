/* kakehashictl: OIDC client commands.
 *
 *   app add-oidc --name NAME --redirect-uri URI [--redirect-uri URI ...] [--id ID]
 *       [--public] [--auth client_secret_basic|client_secret_post|private_key_jwt]
 *       [--jwks-uri URI | --jwks FILE] [--scopes "openid profile ..."]
 *       [--groups "g1,g2"] [--pairwise] [--backchannel-logout-uri URI]
 *       [--post-logout-redirect-uri URI ...] [--access-token jwt|opaque]
 *       [--client-id ID] [--disabled] [--category communication|general] [--policy NAME]
 *   app update-oidc ID [same options: the given ones replace, the others stay]
 *   app rotate-secret ID
 *
 * The client secret is printed once (add-oidc, rotate-secret); the server
 * keeps only a keyed hash of it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/ctl/ctl.h"

#define JWKS_FILE_MAX (64 * 1024)

enum {
	O_NAME = 1000,
	O_ID,
	O_REDIRECT,
	O_PUBLIC,
	O_AUTH,
	O_JWKS_URI,
	O_JWKS,
	O_SCOPES,
	O_GROUPS,
	O_PAIRWISE,
	O_BCL,
	O_PLR,
	O_AT,
	O_CLIENT_ID,
	O_DISABLED,
	O_CATEGORY,
	O_POLICY,
};

static const struct option opts[] = {
	{ "name", required_argument, NULL, O_NAME },
	{ "id", required_argument, NULL, O_ID },
	{ "redirect-uri", required_argument, NULL, O_REDIRECT },
	{ "public", no_argument, NULL, O_PUBLIC },
	{ "auth", required_argument, NULL, O_AUTH },
	{ "jwks-uri", required_argument, NULL, O_JWKS_URI },
	{ "jwks", required_argument, NULL, O_JWKS },
	{ "scopes", required_argument, NULL, O_SCOPES },
	{ "groups", required_argument, NULL, O_GROUPS },
	{ "pairwise", no_argument, NULL, O_PAIRWISE },
	{ "backchannel-logout-uri", required_argument, NULL, O_BCL },
	{ "post-logout-redirect-uri", required_argument, NULL, O_PLR },
	{ "access-token", required_argument, NULL, O_AT },
	{ "client-id", required_argument, NULL, O_CLIENT_ID },
	{ "disabled", no_argument, NULL, O_DISABLED },
	{ "category", required_argument, NULL, O_CATEGORY },
	{ "policy", required_argument, NULL, O_POLICY },
	{ NULL, 0, NULL, 0 },
};

/* "a b,c" -> ["a","b","c"] */
static json_t *
words(const char *s)
{
	json_t *a = json_array();
	char *copy = strdup(s), *tok, *save = NULL;

	if (a == NULL || copy == NULL) {
		free(copy);
		return a;
	}
	for (tok = strtok_r(copy, " ,", &save); tok != NULL; tok = strtok_r(NULL, " ,", &save))
		json_array_append_new(a, json_string(tok));
	free(copy);
	return a;
}

static void
append(json_t *o, const char *key, const char *v)
{
	json_t *a = json_object_get(o, key);

	if (!json_is_array(a)) {
		a = json_array();
		json_object_set_new(o, key, a);
	}
	json_array_append_new(a, json_string(v));
}

/* Parses the options into doc (top level) and o (doc.oidc). *seen_redirect
 * tells whether --redirect-uri was given (update replaces the list then). */
static int
parse(int argc, char **argv, json_t *doc, json_t *o, int *fresh_lists)
{
	json_t *jwks;
	json_error_t jerr;
	FILE *fp;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_NAME: json_object_set_new(doc, "name", json_string(optarg)); break;
		case O_ID: json_object_set_new(doc, "id", json_string(optarg)); break;
		case O_DISABLED: json_object_set_new(doc, "enabled", json_false()); break;
		case O_CATEGORY: kh_ctl_app_category(doc, optarg); break;
		case O_POLICY: kh_ctl_app_policy(doc, optarg); break;
		case O_REDIRECT:
			if (!(fresh_lists[0]++))
				json_object_del(o, "redirect_uris");
			append(o, "redirect_uris", optarg);
			break;
		case O_PLR:
			if (!(fresh_lists[1]++))
				json_object_del(o, "post_logout_redirect_uris");
			append(o, "post_logout_redirect_uris", optarg);
			break;
		case O_PUBLIC:
			json_object_set_new(o, "public", json_true());
			json_object_set_new(o, "token_endpoint_auth_method", json_string("none"));
			break;
		case O_AUTH:
			if (strcmp(optarg, "client_secret_basic") != 0 &&
			    strcmp(optarg, "client_secret_post") != 0 &&
			    strcmp(optarg, "private_key_jwt") != 0)
				return kh_ctl_usage_error("--auth: client_secret_basic, "
							  "client_secret_post or private_key_jwt");
			json_object_set_new(o, "token_endpoint_auth_method", json_string(optarg));
			break;
		case O_JWKS_URI:
			json_object_del(o, "jwks");
			json_object_set_new(o, "jwks_uri", json_string(optarg));
			break;
		case O_JWKS:
			if ((fp = fopen(optarg, "r")) == NULL)
				return kh_ctl_usage_error("--jwks: cannot open %s", optarg);
			jwks = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
			fclose(fp);
			if (!json_is_object(jwks)) {
				json_decref(jwks);
				return kh_ctl_usage_error(
				    "--jwks: %s is not a JWKS (%s)", optarg, jerr.text);
			}
			json_object_del(o, "jwks_uri");
			json_object_set_new(o, "jwks", jwks);
			break;
		case O_SCOPES: json_object_set_new(o, "scopes", words(optarg)); break;
		case O_GROUPS: json_object_set_new(o, "groups", words(optarg)); break;
		case O_PAIRWISE: json_object_set_new(o, "pairwise", json_true()); break;
		case O_BCL:
			json_object_set_new(o, "backchannel_logout_uri", json_string(optarg));
			break;
		case O_AT:
			if (strcmp(optarg, "jwt") != 0 && strcmp(optarg, "opaque") != 0)
				return kh_ctl_usage_error("--access-token: jwt or opaque");
			json_object_set_new(o, "access_token_format", json_string(optarg));
			break;
		case O_CLIENT_ID: json_object_set_new(o, "client_id", json_string(optarg)); break;
		default: return KH_CTL_USAGE;
		}
	}
	if (optind != argc)
		return kh_ctl_usage_error("unexpected argument: %s", argv[optind]);
	return KH_CTL_OK;
}

static void
show(struct kh_ctl *ctl, json_t *reply)
{
	json_t *app = json_object_get(reply, "app");
	const char *secret = json_string_value(json_object_get(reply, "client_secret"));
	const char *cid =
	    json_string_value(json_object_get(json_object_get(app, "oidc"), "client_id"));

	if (ctl->json)
		return; /* kh_ctl_check printed it */
	printf("app:            %s\n", json_string_value(json_object_get(app, "id")));
	printf("client_id:      %s\n", cid != NULL ? cid : "");
	if (secret != NULL)
		printf(
		    "client_secret:  %s\n"
		    "                (shown once: store it in the application's secret store now)\n",
		    secret);
	printf("discovery URL:  %s/.well-known/openid-configuration\n", ctl->url);
}

int
kh_ctl_app_add_oidc(struct kh_ctl *ctl, int argc, char **argv)
{
	json_t *doc = json_object(), *o = json_object(), *reply = NULL;
	int fresh[2] = { 0, 0 }, rc;
	const char *id, *name;
	char *body = NULL, **av = NULL;

	if (doc == NULL || o == NULL)
		return KH_CTL_SERVER;
	json_object_set(doc, "oidc", o);
	json_object_set_new(doc, "protocol", json_string("oidc"));
	/* argv holds the arguments after "add-oidc"; getopt wants a slot 0. */
	if ((av = calloc((size_t)argc + 2, sizeof(char *))) == NULL) {
		rc = KH_CTL_SERVER;
		goto out;
	}
	av[0] = (char *)"add-oidc";
	memcpy(av + 1, argv, (size_t)argc * sizeof(char *));
	if ((rc = parse(argc + 1, av, doc, o, fresh)) != KH_CTL_OK)
		goto out;
	name = json_string_value(json_object_get(doc, "name"));
	if (name == NULL) {
		rc = kh_ctl_usage_error("app add-oidc: --name is required");
		goto out;
	}
	if (json_object_get(doc, "id") == NULL) {
		if (!kh_ctl_app_id_ok(name)) {
			rc = kh_ctl_usage_error(
			    "app add-oidc: --id is required when the name is not a valid id");
			goto out;
		}
		json_object_set_new(doc, "id", json_string(name));
	}
	id = json_string_value(json_object_get(doc, "id"));
	if (!kh_ctl_app_id_ok(id)) {
		rc = kh_ctl_usage_error("app add-oidc: invalid id %s", id);
		goto out;
	}
	if (!fresh[0] && !json_is_true(json_object_get(o, "public")) &&
	    json_object_get(o, "redirect_uris") == NULL)
		fprintf(stderr, "kakehashictl: note: no --redirect-uri: client_credentials only\n");
	if ((body = json_dumps(doc, JSON_COMPACT)) == NULL) {
		rc = KH_CTL_SERVER;
		goto out;
	}
	if ((rc = kh_ctl_call(ctl, "POST", "/admin/api/v1/apps/oidc", body, &reply)) != KH_CTL_OK)
		goto out;
	show(ctl, reply);
out:
	free(av);
	free(body);
	json_decref(reply);
	json_decref(o);
	json_decref(doc);
	return rc;
}

int
kh_ctl_app_update_oidc(struct kh_ctl *ctl, int argc, char **argv)
{
	json_t *cur = NULL, *doc, *o, *reply = NULL;
	char path[256], *body = NULL;
	int fresh[2] = { 0, 0 }, rc;

	/* argv[0] is the ID (and getopt's slot 0), options follow. */
	if (argc < 1 || !kh_ctl_app_id_ok(argv[0]))
		return kh_ctl_usage_error("app update-oidc ID [options]");
	snprintf(path, sizeof(path), "/admin/api/v1/apps/%s", argv[0]);
	if ((rc = kh_ctl_call(ctl, "GET", path, NULL, &cur)) != KH_CTL_OK)
		return rc;
	doc = json_object_get(cur, "app");
	o = json_object_get(doc, "oidc");
	if (!json_is_object(doc) || !json_is_object(o)) {
		fprintf(stderr, "kakehashictl: %s is not an OIDC client\n", argv[0]);
		rc = KH_CTL_SERVER;
		goto out;
	}
	json_object_del(o, "secret_hash");
	if ((rc = parse(argc, argv, doc, o, fresh)) != KH_CTL_OK)
		goto out;
	json_object_set_new(doc, "id", json_string(argv[0]));
	json_object_del(doc, "created");
	json_object_del(doc, "updated");
	if ((body = json_dumps(doc, JSON_COMPACT)) == NULL) {
		rc = KH_CTL_SERVER;
		goto out;
	}
	if ((rc = kh_ctl_call(ctl, "PUT", path, body, &reply)) != KH_CTL_OK)
		goto out;
	show(ctl, reply);
out:
	free(body);
	json_decref(reply);
	json_decref(cur);
	return rc;
}

int
kh_ctl_app_rotate_secret(struct kh_ctl *ctl, int argc, char **argv)
{
	json_t *reply = NULL;
	char path[256];
	int rc;

	if (argc != 1 || !kh_ctl_app_id_ok(argv[0]))
		return kh_ctl_usage_error("app rotate-secret ID");
	snprintf(path, sizeof(path), "/admin/api/v1/apps/%s/rotate-secret", argv[0]);
	if ((rc = kh_ctl_call(ctl, "POST", path, NULL, &reply)) != KH_CTL_OK)
		return rc;
	show(ctl, reply);
	json_decref(reply);
	return KH_CTL_OK;
}
