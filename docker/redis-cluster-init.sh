#!/bin/sh
# Forms the Redis Cluster of `docker compose --profile cluster`: REDIS_CLUSTER_NODES lists six
# empty nodes (host:port, comma-separated) and redis-cli pairs each of three masters with a
# replica. On nodes that already are a cluster (their nodes.conf outlives the containers in
# volumes) it creates nothing. Either way it returns once every node says cluster_state:ok, so
# that the service instances waiting for it start on a cluster that serves every slot.
set -eu

: "${REDIS_CLUSTER_NODES:?must list the cluster nodes, host:port,...}"
nodes=$(printf '%s' "$REDIS_CLUSTER_NODES" | tr ',' ' ')
first=${nodes%% *}
wait_seconds=${CLUSTER_WAIT_SECONDS:-60}

cluster_info() { redis-cli -h "${1%:*}" -p "${1##*:}" cluster info; }

if cluster_info "$first" | grep -qE '^cluster_known_nodes:1([^0-9]|$)'; then
  # shellcheck disable=SC2086 # one argument per node
  redis-cli --cluster create $nodes --cluster-replicas 1 --cluster-yes
else
  echo "$first already knows other nodes: the cluster exists, nothing to create"
fi

# The state turns ok a moment after creation, once every node has seen every slot assigned.
deadline=$(( $(date +%s) + wait_seconds ))
for node in $nodes; do
  until cluster_info "$node" | grep -q '^cluster_state:ok'; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "$node: no cluster_state:ok after ${wait_seconds}s. A cluster formed half-way is not" \
        "repaired here: remove the redis-cluster-*-data volumes to start it afresh." >&2
      cluster_info "$node" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
done
echo "Redis Cluster ready: $nodes"
