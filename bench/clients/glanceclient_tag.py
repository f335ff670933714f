"""python-glanceclient: adds TAG to every image in IDS_FILE, one after another
(image_tags.update).
usage: glanceclient_tag.py IDS_FILE TAG"""
import sys

import pyclients

ids_file, tag = sys.argv[1], sys.argv[2]
with open(ids_file) as f:
    ids = [line.strip() for line in f if line.strip()]
gc = pyclients.glanceclient()
for image_id in ids:
    gc.image_tags.update(image_id, tag)
pyclients.result(tagged=len(ids))
