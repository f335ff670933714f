#!/usr/bin/env bash
# curl loop: GET /v2/images?limit=PAGE and follow `next`, one curl process per page (so no
# connection reuse between pages), as a shell script would. Pages go to SCRATCH; the images
# are counted once at the end.
# usage: curl_list.sh PAGE SCRATCH_FILE
set -euo pipefail
# shellcheck source=bench/clients/curl_common.sh
. "$(dirname "$0")/curl_common.sh"
url="$G/v2/images?limit=${1:-100}" out=$2 pages=0
: >"$out"
re='"next": "([^"]*)"'
while [ -n "$url" ]; do
  page=$(curl -sSf "${H[@]}" "$url")
  printf '%s\n' "$page" >>"$out"
  pages=$((pages + 1))
  url=''
  if [[ $page =~ $re ]]; then url=$G${BASH_REMATCH[1]}; fi
done
count=$(grep -o '"self": "/v2/images/[^"]*"' "$out" | wc -l)
echo "{\"count\": $count, \"pages\": $pages}"
