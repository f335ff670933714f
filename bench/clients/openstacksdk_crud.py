"""openstacksdk: creates N metadata-only images (image.create_image, allow_duplicates=True so it
does not list first), then deletes them.
usage: openstacksdk_crud.py N PREFIX"""
import sys

import pyclients

n, prefix = int(sys.argv[1]), sys.argv[2]
conn = pyclients.openstacksdk()
ids = [conn.image.create_image("%s-%d" % (prefix, i), disk_format="raw", container_format="bare",
                               allow_duplicates=True).id for i in range(1, n + 1)]
for image_id in ids:
    conn.image.delete_image(image_id, ignore_missing=False)
pyclients.result(created=len(ids), deleted=len(ids))
