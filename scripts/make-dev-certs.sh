#!/usr/bin/env bash
# Makes a local certificate authority and certificates for TLS / mutual TLS tests and the local run:
#   <dir>/ca.pem ca.key          the CA (give ca.pem to clients and to --tls-client-ca-file)
#   <dir>/server.pem server.key  server certificate for 127.0.0.1, ::1 and localhost
#   <dir>/client.pem client.key  client certificate (CN=quoteflow-client) for mutual TLS
# Usage: scripts/make-dev-certs.sh [dir]   (default: ./dev-certs). Overwrites existing files.
# Development only: the keys are unencrypted and the CA lives next to them.
set -euo pipefail
dir="${1:-dev-certs}"
days="${DEV_CERT_DAYS:-825}"
mkdir -p "$dir"
cd "$dir"
umask 077

openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
  -subj "/CN=quoteflow dev CA" -keyout ca.key -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  2>/dev/null

issue() {  # issue <name> <subject> <extensions>
  openssl req -newkey rsa:2048 -nodes -sha256 -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -sha256 -days "$days" -in "$1.csr" -CA ca.pem -CAkey ca.key \
    -CAcreateserial -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
issue server "/CN=localhost" \
  "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
extendedKeyUsage=serverAuth
basicConstraints=CA:FALSE"
issue client "/CN=quoteflow-client" \
  "extendedKeyUsage=clientAuth
basicConstraints=CA:FALSE"
rm -f ca.srl
chmod 644 ca.pem server.pem client.pem
echo "make-dev-certs: wrote ca, server and client certificates to $(pwd)"
