/* kakehashictl: SAML service provider commands.
 *
 *   app add-saml --name NAME --metadata FILE|URL [--id ID]
 *       [--nameid persistent|transient|email|unspecified:ATTR]
 *       [--attr SRC=NAME[,format]]... [--groups G,...]
 *       [--sign response|assertion|both] [--encrypt] [--require-signed-requests]
 *       [--disabled] [--category communication|general] [--policy NAME]
 *   app update-saml ID [same options: the given ones replace, the others stay]
 *
 * --metadata URL (https://, or http:// on loopback) is fetched by the server;
 * a FILE is read here (at most 256 KiB) and sent as XML. --attr renames a
 * user attribute for the SP, e.g. mail=http://schemas.xmlsoap.org/ws/2005/05/
 * identity/claims/emailaddress,uri; format is basic (default), uri or
 * unspecified. Repeating --attr adds attributes; on update any --attr
 * replaces the whole list. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/ctl/ctl.h"

int kh_ctl_app_update_saml(struct kh_ctl *ctl, int argc, char **argv);

#define MD_FILE_MAX (256 * 1024)

enum {
	O_NAME = 1000,
	O_ID,
	O_METADATA,
	O_NAMEID,
	O_ATTR,
	O_GROUPS,
	O_SIGN,
	O_ENCRYPT,
	O_REQSIGNED,
	O_DISABLED,
	O_CATEGORY,
	O_POLICY,
};

static const struct option opts[] = {
	{ "name", required_argument, NULL, O_NAME },
	{ "id", required_argument, NULL, O_ID },
	{ "metadata", required_argument, NULL, O_METADATA },
	{ "nameid", required_argument, NULL, O_NAMEID },
	{ "attr", required_argument, NULL, O_ATTR },
	{ "groups", required_argument, NULL, O_GROUPS },
	{ "sign", required_argument, NULL, O_SIGN },
	{ "encrypt", no_argument, NULL, O_ENCRYPT },
	{ "require-signed-requests", no_argument, NULL, O_REQSIGNED },
	{ "disabled", no_argument, NULL, O_DISABLED },
	{ "category", required_argument, NULL, O_CATEGORY },
	{ "policy", required_argument, NULL, O_POLICY },
	{ NULL, 0, NULL, 0 },
};

static int
read_file(const char *path, json_t **out)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	size_t n;

	*out = NULL;
	if (fp == NULL)
		return kh_ctl_usage_error("cannot read %s", path);
	if ((buf = malloc(MD_FILE_MAX + 1)) == NULL) {
		fclose(fp);
		return KH_CTL_SERVER;
	}
	n = fread(buf, 1, MD_FILE_MAX + 1, fp);
	fclose(fp);
	if (n > MD_FILE_MAX) {
		free(buf);
		return kh_ctl_usage_error("%s is larger than 256 KiB", path);
	}
	buf[n] = '\0';
	*out = json_stringn(buf, n);
	free(buf);
	if (*out == NULL)
		return kh_ctl_usage_error("%s is not UTF-8 text", path);
	return KH_CTL_OK;
}

static json_t *
split_list(const char *s)
{
	json_t *a = json_array();
	char *copy = strdup(s), *tok, *save = NULL;

	if (a == NULL || copy == NULL) {
		free(copy);
		json_decref(a);
		return NULL;
	}
	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
		if (*tok != '\0')
			json_array_append_new(a, json_string(tok));
	free(copy);
	return a;
}

/* SRC=NAME[,format] */
static json_t *
parse_attr(const char *s)
{
	const char *eq = strchr(s, '='), *comma;
	json_t *o;

	if (eq == NULL || eq == s || eq[1] == '\0')
		return NULL;
	o = json_object();
	json_object_set_new(o, "source", json_stringn(s, (size_t)(eq - s)));
	comma = strrchr(eq + 1, ',');
	if (comma != NULL &&
	    (strcmp(comma + 1, "basic") == 0 || strcmp(comma + 1, "uri") == 0 ||
		strcmp(comma + 1, "unspecified") == 0)) {
		json_object_set_new(o, "name", json_stringn(eq + 1, (size_t)(comma - eq - 1)));
		json_object_set_new(o, "name_format", json_string(comma + 1));
	} else
		json_object_set_new(o, "name", json_string(eq + 1));
	return o;
}

static int
parse(int argc, char **argv, json_t *doc, json_t *s)
{
	json_t *attrs = NULL, *v = NULL;
	int ch;

	optind = 1;
	opterr = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_NAME: json_object_set_new(doc, "name", json_string(optarg)); break;
		case O_ID: json_object_set_new(doc, "id", json_string(optarg)); break;
		case O_METADATA:
			if (strncmp(optarg, "https://", 8) == 0 ||
			    strncmp(optarg, "http://", 7) == 0) {
				json_object_set_new(s, "metadata_url", json_string(optarg));
				json_object_del(s, "metadata");
			} else {
				if (read_file(optarg, &v) != KH_CTL_OK)
					return KH_CTL_USAGE;
				json_object_set_new(s, "metadata", v);
				json_object_del(s, "metadata_url");
			}
			break;
		case O_NAMEID:
			if (strncmp(optarg, "unspecified:", 12) == 0) {
				json_object_set_new(s, "nameid_format", json_string("unspecified"));
				json_object_set_new(
				    s, "nameid_attribute", json_string(optarg + 12));
			} else if (strcmp(optarg, "persistent") == 0 ||
			    strcmp(optarg, "transient") == 0 || strcmp(optarg, "email") == 0 ||
			    strcmp(optarg, "unspecified") == 0)
				json_object_set_new(s, "nameid_format", json_string(optarg));
			else
				return kh_ctl_usage_error(
				    "--nameid: persistent, transient, email or unspecified:ATTR");
			break;
		case O_ATTR:
			if ((v = parse_attr(optarg)) == NULL)
				return kh_ctl_usage_error(
				    "--attr wants SRC=NAME[,basic|uri|unspecified]");
			if (attrs == NULL) {
				attrs = json_array();
				json_object_set_new(s, "attributes", attrs);
			}
			json_array_append_new(attrs, v);
			break;
		case O_GROUPS: json_object_set_new(doc, "groups", split_list(optarg)); break;
		case O_SIGN:
			if (strcmp(optarg, "response") != 0 && strcmp(optarg, "assertion") != 0 &&
			    strcmp(optarg, "both") != 0)
				return kh_ctl_usage_error("--sign: response, assertion or both");
			json_object_set_new(
			    s, "sign_response", json_boolean(strcmp(optarg, "assertion") != 0));
			json_object_set_new(
			    s, "sign_assertion", json_boolean(strcmp(optarg, "response") != 0));
			break;
		case O_ENCRYPT: json_object_set_new(s, "encrypt_assertion", json_true()); break;
		case O_REQSIGNED:
			json_object_set_new(s, "require_signed_requests", json_true());
			break;
		case O_DISABLED: json_object_set_new(doc, "enabled", json_false()); break;
		case O_CATEGORY: kh_ctl_app_category(doc, optarg); break;
		case O_POLICY: kh_ctl_app_policy(doc, optarg); break;
		default: return KH_CTL_USAGE;
		}
	}
	if (optind != argc)
		return kh_ctl_usage_error("unexpected argument %s", argv[optind]);
	return KH_CTL_OK;
}

static void
show(struct kh_ctl *ctl, json_t *reply)
{
	json_t *app = json_object_get(reply, "app"), *s = json_object_get(app, "saml");

	if (ctl->json)
		return; /* kh_ctl_check printed it */
	printf("id:          %s\n", json_string_value(json_object_get(app, "id")));
	printf("entity_id:   %s\n", json_string_value(json_object_get(s, "entity_id")));
	printf("nameid:      %s\n", json_string_value(json_object_get(s, "nameid_format")));
	printf("IdP metadata: %s/saml/metadata\n", ctl->url);
}

static int
run(struct kh_ctl *ctl, int argc, char **argv, const char *cmd, const char *id)
{
	json_t *doc = json_object(), *s = json_object(), *reply = NULL;
	char *body = NULL, **av = NULL, path[256];
	const char *name;
	int rc;

	if (doc == NULL || s == NULL)
		return KH_CTL_SERVER;
	json_object_set(doc, "saml", s);
	if ((av = calloc((size_t)argc + 2, sizeof(char *))) == NULL) {
		rc = KH_CTL_SERVER;
		goto out;
	}
	av[0] = (char *)cmd;
	memcpy(av + 1, argv, (size_t)argc * sizeof(char *));
	if ((rc = parse(argc + 1, av, doc, s)) != KH_CTL_OK)
		goto out;
	if (id == NULL) {
		json_object_set_new(doc, "protocol", json_string("saml"));
		if ((name = json_string_value(json_object_get(doc, "name"))) == NULL) {
			rc = kh_ctl_usage_error("app add-saml: --name is required");
			goto out;
		}
		if (json_object_get(s, "metadata") == NULL &&
		    json_object_get(s, "metadata_url") == NULL) {
			rc = kh_ctl_usage_error("app add-saml: --metadata FILE|URL is required");
			goto out;
		}
		if (json_object_get(doc, "id") == NULL) {
			if (!kh_ctl_app_id_ok(name)) {
				rc = kh_ctl_usage_error(
				    "app add-saml: --id is required when the name is not a valid id");
				goto out;
			}
			json_object_set_new(doc, "id", json_string(name));
		}
		id = json_string_value(json_object_get(doc, "id"));
		if (!kh_ctl_app_id_ok(id)) {
			rc = kh_ctl_usage_error("app add-saml: invalid id %s", id);
			goto out;
		}
	} else if (json_object_size(s) == 0)
		json_object_del(doc, "saml");
	if ((body = json_dumps(doc, JSON_COMPACT)) == NULL) {
		rc = KH_CTL_SERVER;
		goto out;
	}
	if (strcmp(cmd, "add-saml") == 0)
		rc = kh_ctl_call(ctl, "POST", "/admin/api/v1/apps/saml", body, &reply);
	else {
		snprintf(path, sizeof(path), "/admin/api/v1/apps/%s", id);
		rc = kh_ctl_call(ctl, "PUT", path, body, &reply);
	}
	if (rc == KH_CTL_OK)
		show(ctl, reply);
out:
	free(av);
	free(body);
	json_decref(reply);
	json_decref(s);
	json_decref(doc);
	return rc;
}

int
kh_ctl_app_add_saml(struct kh_ctl *ctl, int argc, char **argv)
{
	return run(ctl, argc, argv, "add-saml", NULL);
}

int
kh_ctl_app_update_saml(struct kh_ctl *ctl, int argc, char **argv)
{
	if (argc < 1 || !kh_ctl_app_id_ok(argv[0]))
		return kh_ctl_usage_error("app update-saml ID [options]");
	return run(ctl, argc - 1, argv + 1, "update-saml", argv[0]);
}
