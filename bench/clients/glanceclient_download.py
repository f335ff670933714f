"""python-glanceclient: images.data(ID) written to a file; the iterator verifies the sha512
Glance recorded (os_hash_value) as it streams.
usage: glanceclient_download.py ID PATH"""
import sys

import pyclients

image_id, path = sys.argv[1], sys.argv[2]
gc = pyclients.glanceclient()
n = 0
with open(path, "wb") as f:
    for chunk in gc.images.data(image_id):
        f.write(chunk)
        n += len(chunk)
pyclients.result(bytes=n)
