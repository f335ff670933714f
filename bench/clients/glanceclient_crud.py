"""python-glanceclient: creates N metadata-only images, then deletes them.
usage: glanceclient_crud.py N PREFIX"""
import sys

import pyclients

n, prefix = int(sys.argv[1]), sys.argv[2]
gc = pyclients.glanceclient()
ids = [gc.images.create(name="%s-%d" % (prefix, i), disk_format="raw",
                        container_format="bare")["id"] for i in range(1, n + 1)]
for image_id in ids:
    gc.images.delete(image_id)
pyclients.result(created=len(ids), deleted=len(ids))
