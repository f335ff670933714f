#!/usr/bin/env bash
# curl CLI: PUT a file into a queued image (curl -T), one curl process.
# usage: curl_upload.sh ID PATH
set -euo pipefail
# shellcheck source=bench/clients/curl_common.sh
. "$(dirname "$0")/curl_common.sh"
exec curl -sSf "${H[@]}" -H 'Content-Type: application/octet-stream' -T "$2" \
  -w '{"status": %{http_code}, "bytes": %{size_upload}}\n' "$G/v2/images/$1/file"
