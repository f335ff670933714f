#!/bin/sh
# s3cmd: s3cmd put PATH s3://BUCKET/KEY against the emulator's OBS (SigV4, path-style;
# multipart in 15 MiB chunks, one at a time).
# usage: s3cmd_put.sh BUCKET KEY PATH
set -e
host=${IMS_OBS_ENDPOINT#http://}
cfg=$HOME/s3cmd.cfg
cat >"$cfg" <<CFG
[default]
access_key = $IMS_AK_A
secret_key = $IMS_SK_A
host_base = $host
host_bucket = $host
use_https = False
signature_v2 = False
bucket_location = $IMS_REGION
CFG
/usr/bin/s3cmd -c "$cfg" --no-progress -q put "$3" "s3://$1/$2"
echo '{"ok": true}'
