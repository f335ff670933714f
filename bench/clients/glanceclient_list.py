"""python-glanceclient: images.list(page_size=PAGE), every page.
usage: glanceclient_list.py PAGE"""
import sys

import pyclients

gc = pyclients.glanceclient()
images = list(gc.images.list(page_size=int(sys.argv[1])))
pyclients.result(count=len(images))
