#!/bin/sh
# Generates development signing keys for Kakehashi (tests and the demo only:
# production keys come from the organisation's own PKI process).
#
#   certs/gen-dev-keys.sh DIR [CN]
#
# Writes into DIR (created with mode 700 if missing):
#   rsa.key   RSA private key, 3072 bits or $KH_RSA_BITS (2048, 3072, 4096)
#             (PKCS#8 PEM, mode 600)                         -> [keys] rsa_key
#   rsa.crt   self-signed certificate, CN=CN, 10 years      -> [keys] rsa_cert
#   ec.key    EC P-256 private key (PKCS#8 PEM, mode 600)   -> [keys] ec_key
# Existing files are never overwritten. CN defaults to "Kakehashi dev IdP".
set -eu

usage() {
	echo "usage: $0 DIR [CN]" >&2
	exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
dir=$1
cn=${2:-Kakehashi dev IdP}
case $cn in
*/* | *\\*) echo "$0: the CN must not contain / or \\" >&2; exit 2 ;;
esac
bits=${KH_RSA_BITS:-3072}
case $bits in
2048 | 3072 | 4096) ;;
*) echo "$0: KH_RSA_BITS must be 2048, 3072 or 4096" >&2; exit 2 ;;
esac
command -v openssl >/dev/null 2>&1 || { echo "$0: openssl not found" >&2; exit 1; }

umask 077
mkdir -p "$dir"
for f in rsa.key rsa.crt ec.key; do
	if [ -e "$dir/$f" ]; then
		echo "$0: $dir/$f exists; not overwriting" >&2
		exit 1
	fi
done

openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:$bits -out "$dir/rsa.key"
openssl req -utf8 -new -x509 -key "$dir/rsa.key" -sha256 -days 3650 -subj "/CN=$cn" \
	-out "$dir/rsa.crt" 2>/dev/null
openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-pkeyopt ec_param_enc:named_curve -out "$dir/ec.key"
chmod 600 "$dir/rsa.key" "$dir/ec.key"
chmod 644 "$dir/rsa.crt"
echo "$dir/rsa.key $dir/rsa.crt $dir/ec.key"
