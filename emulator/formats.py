"""Disk image formats by their magic bytes, as IMS inspects an imported file: qcow2, vmdk, vhd,
vhdx, iso, zvhd2 (Huawei's own; the emulator knows it by its extension, its layout not being
public), else raw."""

import os

QUICK_IMPORT_MAX = 1 << 40          # 1 TiB: quick import
IMPORT_MAX = 128 << 30              # 128 GiB: the other imports


def detect(path):
    if path.lower().endswith(".zvhd2"):
        return "zvhd2"
    with open(path, "rb") as f:
        head = f.read(512)
        if head.startswith(b"QFI\xfb"):
            return "qcow2"
        if head.startswith(b"KDMV") or head.startswith(b"# Disk DescriptorFile"):
            return "vmdk"
        if head.startswith(b"vhdxfile"):
            return "vhdx"
        if head.startswith(b"conectix"):
            return "vhd"
        size = os.fstat(f.fileno()).st_size
        if size >= 512:
            f.seek(size - 512)
            if f.read(8) == b"conectix":
                return "vhd"
        if size >= 0x8006:
            f.seek(0x8001)
            if f.read(5) == b"CD001":
                return "iso"
    return "raw"


def bitmap_of(path):
    """Where a RAW file's bitmap must be for quick import: beside it, named OBJECT.bitmap."""
    return path + ".bitmap"
