#!/bin/sh
# Starts the compose stack's Kafka node. The first start formats the storage and creates the
# SCRAM user admin (KIP-900: a KRaft cluster can have no user before it runs, and every
# client listener asks for one); later starts find the storage formatted and keep it.
set -eu
: "${KAFKA_ADMIN_PASSWORD:?}" "${KAFKA_TLS_PASSWORD:?}" "${CLUSTER_ID:?}"
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted --cluster-id "$CLUSTER_ID" \
  --config /etc/kafka/amlscreen/server.properties \
  --add-scram "SCRAM-SHA-512=[name=admin,password=$KAFKA_ADMIN_PASSWORD]"
exec /opt/kafka/bin/kafka-server-start.sh /etc/kafka/amlscreen/server.properties
