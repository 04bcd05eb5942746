# Sourced by the benchmarks: runs one pstrain job over private network namespaces (scripts/netns-hosts), each
# server shard and each worker on a "host" of its own, placed by TF_CONFIG as Kubeflow would. Needs root.
#
#   netns_job OUT NAME RATE SERVERS WORKERS [pstrain key=value ...]
#
# RATE is a tc rate (1gbit) or none. The job's run directory is OUT/NAME (shard K>0: OUT/NAME-shardK); each
# process's output and log go beside it as OUT/NAME.serverK.out|log and OUT/NAME.workerK.out|log.
# The caller sets netns_prefix and removes the hosts at exit (scripts/netns-hosts delete "$netns_prefix").

netns_bin="${netns_bin:-$PWD/.build/release/pstrain}"

# Whether this process may make network namespaces (root, and a kernel that lets it).
netns_available() {
  [ "$(id -u)" -eq 0 ] || return 1
  local probe="pscheck$$"
  ip netns add "$probe" 2>/dev/null || return 1
  ip netns del "$probe"
}

netns_job() {
  local out=$1 name=$2 rate=$3 servers=$4 workers=$5 ps="" list="" pids=() s w
  shift 5
  # The namespaces share this machine's /dev/shm, where real hosts would not: keep the payloads on the links.
  set -- "$@" cluster.shared_memory=false
  scripts/netns-hosts delete "$netns_prefix"
  scripts/netns-hosts create "$netns_prefix" $((servers + workers)) $([ "$rate" = none ] || echo "$rate")
  for ((s = 0; s < servers; s++)); do ps+="${ps:+, }\"10.77.0.$((s + 1)):5555\""; done
  for ((w = 0; w < workers; w++)); do list+="${list:+, }\"10.77.0.$((servers + w + 1)):2222\""; done
  for ((s = 0; s < servers; s++)); do
    TF_CONFIG="{\"cluster\": {\"ps\": [$ps], \"worker\": [$list]}, \"task\": {\"type\": \"ps\", \"index\": $s}}" \
      ip netns exec "$netns_prefix-h$s" "$netns_bin" server --insecure --quiet --run-dir "$out/$name$([ "$s" -eq 0 ] || echo "-shard$s")" \
      "cluster.workers=$workers" "$@" >"$out/$name.server$s.out" 2>"$out/$name.server$s.log" &
    pids+=($!)
  done
  for ((w = 0; w < workers; w++)); do
    TF_CONFIG="{\"cluster\": {\"ps\": [$ps], \"worker\": [$list]}, \"task\": {\"type\": \"worker\", \"index\": $w}}" \
      ip netns exec "$netns_prefix-h$((servers + w))" "$netns_bin" worker "cluster.workers=$workers" "$@" \
      >"$out/$name.worker$w.out" 2>"$out/$name.worker$w.log" &
    pids+=($!)
  done
  local failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  if [ "$failed" -ne 0 ]; then echo "netns_job: a process of $name failed; logs in $out" >&2; return 1; fi
}
