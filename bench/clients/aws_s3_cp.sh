#!/bin/sh
# awscli: aws s3 cp PATH s3://BUCKET/KEY against the emulator's OBS (SigV4, multipart above
# its 8 MiB threshold, 10 concurrent requests by default).
# usage: aws_s3_cp.sh BUCKET KEY PATH
set -e
AWS_ACCESS_KEY_ID=$IMS_AK_A AWS_SECRET_ACCESS_KEY=$IMS_SK_A AWS_DEFAULT_REGION=$IMS_REGION \
  /usr/bin/aws --endpoint-url "$IMS_OBS_ENDPOINT" s3 cp --only-show-errors --no-progress "$3" "s3://$1/$2"
echo '{"ok": true}'
