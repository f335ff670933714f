"""openstacksdk: adds TAG to every image in IDS_FILE, one after another (image.add_tag).
usage: openstacksdk_tag.py IDS_FILE TAG"""
import sys

import pyclients

ids_file, tag = sys.argv[1], sys.argv[2]
with open(ids_file) as f:
    ids = [line.strip() for line in f if line.strip()]
conn = pyclients.openstacksdk()
for image_id in ids:
    conn.image.add_tag(image_id, tag)
pyclients.result(tagged=len(ids))
