"""openstacksdk: image.download_image(ID, output=PATH, stream=True, chunk_size=1 MiB); it checks
the MD5 `checksum` as it streams (stream=False would hold the whole image in memory).
usage: openstacksdk_download.py ID PATH"""
import os
import sys

import pyclients

image_id, path = sys.argv[1], sys.argv[2]
conn = pyclients.openstacksdk()
conn.image.download_image(image_id, output=path, stream=True, chunk_size=1 << 20)
pyclients.result(bytes=os.path.getsize(path))
