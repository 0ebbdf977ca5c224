#!/bin/sh
# The compose stack's TLS: a CA and the broker's certificate (names kafka, localhost and
# 127.0.0.1), made once with keytool (it comes with Kafka's Java runtime). Writes
#   $TLS_DIR/ca.p12      the CA with its private key (keep it; it signs nothing else here)
#   $TLS_DIR/broker.p12  the broker's key and certificate chain (server.properties)
#   $CA_DIR/ca.pem       the CA certificate alone: what the API, the workers and every
#                        institution's client verify the broker with
# Replace them with certificates of your own CA by writing the same files.
set -eu
: "${KAFKA_TLS_PASSWORD:?}"
TLS_DIR=${TLS_DIR:-/var/lib/kafka/tls}
CA_DIR=${CA_DIR:-/etc/amlscreen-kafka}
KEYTOOL=${KEYTOOL:-keytool}
if [ -s "$TLS_DIR/broker.p12" ] && [ -s "$CA_DIR/ca.pem" ]; then
  echo "TLS material present in $TLS_DIR and $CA_DIR: kept"
  exit 0
fi
mkdir -p "$TLS_DIR" "$CA_DIR"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass="$KAFKA_TLS_PASSWORD"
"$KEYTOOL" -genkeypair -alias ca -dname "CN=amlscreen Kafka CA" -ext bc:c -keyalg RSA \
  -keysize 3072 -validity 3650 -storetype PKCS12 -keystore "$work/ca.p12" -storepass "$pass"
"$KEYTOOL" -exportcert -rfc -alias ca -keystore "$work/ca.p12" -storepass "$pass" \
  > "$work/ca.pem"
"$KEYTOOL" -genkeypair -alias kafka -dname "CN=kafka" -keyalg RSA -keysize 3072 \
  -validity 825 -storetype PKCS12 -keystore "$work/broker.p12" -storepass "$pass"
"$KEYTOOL" -certreq -alias kafka -keystore "$work/broker.p12" -storepass "$pass" \
  > "$work/broker.csr"
"$KEYTOOL" -gencert -rfc -alias ca -keystore "$work/ca.p12" -storepass "$pass" \
  -infile "$work/broker.csr" -outfile "$work/broker.pem" -validity 825 \
  -ext "SAN=dns:kafka,dns:localhost,ip:127.0.0.1" -ext "EKU=serverAuth" \
  -ext "KU=digitalSignature,keyEncipherment"
"$KEYTOOL" -importcert -noprompt -alias ca -file "$work/ca.pem" \
  -keystore "$work/broker.p12" -storepass "$pass"
"$KEYTOOL" -importcert -alias kafka -file "$work/broker.pem" \
  -keystore "$work/broker.p12" -storepass "$pass"
cp "$work/ca.p12" "$work/broker.p12" "$TLS_DIR/"
cp "$work/ca.pem" "$CA_DIR/"
chmod 600 "$TLS_DIR/ca.p12" "$TLS_DIR/broker.p12"
chmod 644 "$CA_DIR/ca.pem"
if [ -n "${TLS_OWNER:-}" ]; then chown "$TLS_OWNER" "$TLS_DIR" "$TLS_DIR/ca.p12" "$TLS_DIR/broker.p12"; fi
echo "wrote $TLS_DIR/ca.p12, $TLS_DIR/broker.p12 and $CA_DIR/ca.pem"
