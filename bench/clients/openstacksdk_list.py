"""openstacksdk: image.images(limit=PAGE), every page.
usage: openstacksdk_list.py PAGE"""
import sys

import pyclients

conn = pyclients.openstacksdk()
images = list(conn.image.images(limit=int(sys.argv[1])))
pyclients.result(count=len(images))
