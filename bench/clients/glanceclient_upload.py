"""python-glanceclient: images.upload(ID, file) into a queued image (chunked PUT).
usage: glanceclient_upload.py ID PATH"""
import sys

import pyclients

image_id, path = sys.argv[1], sys.argv[2]
gc = pyclients.glanceclient()
with open(path, "rb") as f:
    gc.images.upload(image_id, f)
pyclients.result(id=image_id)
