/* The built-in prefecture default policy document (idp/policy.h), used when
 * [policy] file is unset. docs/policy.example.json is the same text, byte
 * for byte (tests/unit/test_policy.c checks it): change both together. The
 * "gov" zone lists the RFC 1918 ranges as a placeholder for the
 * prefecture's own networks. */
#include "idp/policy.h"

const char kh_policy_default_json[] =
    "{\n"
    "  \"zones\": {\n"
    "    \"gov\": [\"10.0.0.0/8\", \"172.16.0.0/12\", \"192.168.0.0/16\"]\n"
    "  },\n"
    "  \"managed_device\": { \"header\": \"X-Client-Verify\", \"value\": \"SUCCESS\" },\n"
    "  \"policies\": {\n"
    "    \"communication\": {\n"
    "      \"description\": \"コミュニケーション系（メール・チャット・Web 会議）: 管理端末・庁内ネットワーク・記憶済み端末は許可、それ以外は多要素認証 / Communication apps: managed devices, the government network and remembered devices are allowed, anything else needs MFA\",\n"
    "      \"rules\": [\n"
    "        { \"device\": [\"managed\"], \"action\": \"allow\" },\n"
    "        { \"zone\": [\"gov\"], \"action\": \"allow\" },\n"
    "        { \"device\": [\"remembered\"], \"action\": \"allow\" },\n"
    "        { \"action\": \"mfa\" }\n"
    "      ]\n"
    "    },\n"
    "    \"managed-only\": {\n"
    "      \"description\": \"管理端末（クライアント証明書）からのみ利用可 / Managed devices (client certificate) only\",\n"
    "      \"rules\": [\n"
    "        { \"device\": [\"managed\"], \"action\": \"allow\" },\n"
    "        { \"action\": \"deny\", \"reason\": \"managed_device\" }\n"
    "      ]\n"
    "    },\n"
    "    \"allow\": {\n"
    "      \"description\": \"サインイン済みの職員は誰でも利用可 / Any signed-in staff member\",\n"
    "      \"rules\": [{ \"action\": \"allow\" }]\n"
    "    },\n"
    "    \"mfa\": {\n"
    "      \"description\": \"常に多要素認証 / Always a second factor\",\n"
    "      \"rules\": [{ \"action\": \"mfa\" }]\n"
    "    }\n"
    "  },\n"
    "  \"default_policy\": \"managed-only\"\n"
    "}\n";
