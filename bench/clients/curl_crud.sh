#!/usr/bin/env bash
# curl loop: creates N metadata-only images (POST /v2/images), then deletes them, one curl
# process per request.
# usage: curl_crud.sh N PREFIX
set -euo pipefail
# shellcheck source=bench/clients/curl_common.sh
. "$(dirname "$0")/curl_common.sh"
n=$1 prefix=${2:-crud} ids=()
re='"id": "([^"]*)"'
for ((i = 1; i <= n; i++)); do
  body=$(curl -sSf "${H[@]}" -H 'Content-Type: application/json' \
    -d "{\"name\": \"$prefix-$i\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}" \
    "$G/v2/images")
  [[ $body =~ $re ]] || { echo "curl_crud.sh: no id in: $body" >&2; exit 1; }
  ids+=("${BASH_REMATCH[1]}")
done
for id in "${ids[@]}"; do curl -sSf "${H[@]}" -X DELETE "$G/v2/images/$id"; done
echo "{\"created\": ${#ids[@]}, \"deleted\": ${#ids[@]}}"
