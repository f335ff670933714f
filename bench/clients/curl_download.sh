#!/usr/bin/env bash
# curl CLI: GET an image's data to a file (curl -o), one curl process, no verification.
# usage: curl_download.sh ID PATH
set -euo pipefail
# shellcheck source=bench/clients/curl_common.sh
. "$(dirname "$0")/curl_common.sh"
exec curl -sSf "${H[@]}" -o "$2" -w '{"status": %{http_code}, "bytes": %{size_download}}\n' \
  "$G/v2/images/$1/file"
