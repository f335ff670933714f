"""openstacksdk: the image resource's upload() into a queued image (what create_image(...,
filename=) does after creating it).
usage: openstacksdk_upload.py ID PATH"""
import sys

import pyclients

image_id, path = sys.argv[1], sys.argv[2]
conn = pyclients.openstacksdk()
image = conn.image.get_image(image_id)
with open(path, "rb") as f:
    image.data = f
    response = image.upload(conn.image)
    response.raise_for_status()
pyclients.result(id=image_id)
