#!/bin/sh
# tls/testdata/make_certs.sh: makes the test certificates of //tls with the
# openssl CLI. Run once; the PEM files are checked in beside this script and
# read by the tests through Bazel `data`. Every key is ECDSA P-256. Dates are
# fixed (not "now") so that a machine with a slightly wrong clock still sees
# the valid certificates as valid:
#
#   ca.pem / ca.key                 the test CA, 2019-01-01 .. 2045-01-01
#   server.pem / server.key         SAN DNS:localhost, IP:127.0.0.1,
#                                   2019-01-01 .. 2044-01-01
#   expired.pem / expired.key       same SANs, 2019-01-01 .. 2020-01-01
#   wrong_host.pem / .key           SAN DNS:wrong.example only, 2019 .. 2044
#   client.pem / client.key         CN=test client, clientAuth, 2019 .. 2044
#   server_chain.pem                server.pem followed by ca.pem
#
# Usage: tls/testdata/make_certs.sh [output folder, default: this folder]
set -eu

out="${1:-$(cd "$(dirname "$0")" && pwd)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mkdir "$work/db"
: > "$work/db/index.txt"
echo 1000 > "$work/db/serial"
cat > "$work/ca.cnf" <<CNF
[ca]
default_ca = test_ca
[test_ca]
database = $work/db/index.txt
serial = $work/db/serial
new_certs_dir = $work/db
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
[any]
organizationName = optional
commonName = supplied
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
authorityKeyIdentifier = keyid
[wrong_host_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
CNF

# make NAME CN EXTENSIONS START END ca|leaf: a key and a certificate; signed by
# ca.key, or self-signed when the last argument is "ca".
make() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$out/$1.key"
  openssl req -new -key "$out/$1.key" -out "$work/$1.csr" \
    -subj "/O=evergreen test/CN=$2"
  if [ "$6" = ca ]; then
    sign "$@" -selfsign
  else
    sign "$@" -cert "$out/ca.pem"
  fi
  openssl x509 -in "$work/$1.out" -out "$out/$1.pem"
}

# sign NAME CN EXTENSIONS START END MARK SIGNER-ARGS...
sign() {
  name=$1 ext=$3 start=$4 end=$5
  shift 6
  openssl ca -batch -notext -config "$work/ca.cnf" -extensions "$ext" \
    -startdate "$start" -enddate "$end" -keyfile "$out/ca.key" "$@" \
    -in "$work/$name.csr" -out "$work/$name.out"
}

make ca "evergreen test CA" ca_ext 20190101000000Z 20450101000000Z ca
make server localhost server_ext 20190101000000Z 20440101000000Z leaf
make expired localhost server_ext 20190101000000Z 20200101000000Z leaf
make wrong_host wrong.example wrong_host_ext 20190101000000Z 20440101000000Z leaf
make client "test client" client_ext 20190101000000Z 20440101000000Z leaf
cat "$out/server.pem" "$out/ca.pem" > "$out/server_chain.pem"

# Sanity: every leaf chains to the CA; the expired one only in 2019.
openssl verify -CAfile "$out/ca.pem" "$out/server.pem" "$out/wrong_host.pem" \
  "$out/client.pem"
openssl verify -CAfile "$out/ca.pem" -attime 1560000000 "$out/expired.pem"
