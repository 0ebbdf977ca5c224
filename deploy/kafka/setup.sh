#!/bin/sh
# Topics, SCRAM principals and ACLs of amlscreen on the compose stack's Kafka
# (docs/onboarding-kafka.md). Runs as the admin user over SASL_SSL.
#
#   setup.sh                  the shared topics, the principals amlscreen-api and
#                             amlscreen-worker and exactly the ACLs each needs
#   setup.sh institution ID   institution ID's topic <prefix>ID, its principal
#                             institution-<id, lower case> (password: INSTITUTION_PASSWORD)
#                             and its one ACL: write its own topic
#
# Environment: KAFKA_ADMIN_PASSWORD; KAFKA_API_PASSWORD and KAFKA_WORKER_PASSWORD (setup);
# INSTITUTION_PASSWORD (institution); PARTITIONS (partitions of the shared topics, 4);
# INSTITUTION_PARTITIONS (1); BOOTSTRAP (kafka:9092); CA_FILE (/etc/amlscreen-kafka/ca.pem).
set -eu
BIN=${KAFKA_BIN:-/opt/kafka/bin}
BOOTSTRAP=${BOOTSTRAP:-kafka:9092}
CA_FILE=${CA_FILE:-/etc/amlscreen-kafka/ca.pem}
PARTITIONS=${PARTITIONS:-4}
# AMLSCREEN_TOPIC_INSTITUTION_PREFIX of the API and the workers (services/config.py).
PREFIX=aml.reports.from.
GROUP=amlscreen-worker
: "${KAFKA_ADMIN_PASSWORD:?}"

plain() {  # NAME VALUE: a password kafka-configs and a JAAS line take as written
  case "$2" in
    *[!A-Za-z0-9._~-]* | "")
      echo "$1 may hold only letters, digits and . _ ~ - (e.g. openssl rand -hex 24)" >&2
      exit 2
      ;;
  esac
}

plain KAFKA_ADMIN_PASSWORD "$KAFKA_ADMIN_PASSWORD"

config=$(mktemp)
trap 'rm -f "$config"' EXIT
chmod 600 "$config"
cat > "$config" <<PROPERTIES
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$KAFKA_ADMIN_PASSWORD";
ssl.truststore.type=PEM
ssl.truststore.location=$CA_FILE
PROPERTIES

topic() {  # NAME PARTITIONS
  "$BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$config" \
    --create --if-not-exists --topic "$1" --partitions "$2" --replication-factor 1
}

user() {  # PRINCIPAL PASSWORD
  "$BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$config" \
    --alter --entity-type users --entity-name "$1" \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=$2]"
}

allow() {  # PRINCIPAL OPERATIONS RESOURCE-OPTIONS...
  principal=$1
  operations=$2
  shift 2
  for operation in $operations; do
    "$BIN/kafka-acls.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$config" \
      --add --allow-principal "User:$principal" --operation "$operation" "$@"
  done
}

case "${1:-setup}" in
setup)
  : "${KAFKA_API_PASSWORD:?}" "${KAFKA_WORKER_PASSWORD:?}"
  plain KAFKA_API_PASSWORD "$KAFKA_API_PASSWORD"
  plain KAFKA_WORKER_PASSWORD "$KAFKA_WORKER_PASSWORD"
  for name in aml.reports aml.reports.dlq aml.alerts; do
    topic "$name" "$PARTITIONS"
  done
  user amlscreen-api "$KAFKA_API_PASSWORD"
  user amlscreen-worker "$KAFKA_WORKER_PASSWORD"
  # The API publishes what it accepted over HTTP (token checked) to aml.reports: the only
  # principal besides the worker that may write it.
  allow amlscreen-api "Write Describe" --topic aml.reports
  # The worker reads aml.reports and every institution topic, relays checked institution
  # reports to aml.reports, and writes the DLQ and the alerts.
  allow amlscreen-worker "Read Describe" --topic aml.reports
  allow amlscreen-worker "Read Describe" --topic "$PREFIX" --resource-pattern-type prefixed
  allow amlscreen-worker "Write" --topic aml.reports
  allow amlscreen-worker "Write Describe" --topic aml.reports.dlq
  allow amlscreen-worker "Write Describe" --topic aml.alerts
  allow amlscreen-worker "Read" --group "$GROUP"
  ;;
institution)
  id=${2:?usage: setup.sh institution INSTITUTION_ID}
  : "${INSTITUTION_PASSWORD:?}"
  plain INSTITUTION_PASSWORD "$INSTITUTION_PASSWORD"
  case "$id" in
    *[!A-Za-z0-9._-]* | "")
      echo "institution $id cannot have a topic: letters, digits, '.', '_', '-' only" >&2
      exit 2
      ;;
  esac
  principal="institution-$(printf '%s' "$id" | tr 'A-Z' 'a-z')"
  topic "$PREFIX$id" "${INSTITUTION_PARTITIONS:-1}"
  user "$principal" "$INSTITUTION_PASSWORD"
  allow "$principal" "Write Describe" --topic "$PREFIX$id"
  echo "institution $id: principal $principal writes $PREFIX$id"
  ;;
*)
  echo "usage: setup.sh [setup | institution INSTITUTION_ID]" >&2
  exit 2
  ;;
esac
