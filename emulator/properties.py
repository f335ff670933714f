"""The Glance fields of images the emulator creates: Glance core fields plus the IMS extension
attributes, which IMS keeps as Glance string properties (ims-api.md §4.2.3)."""

import os

from . import osversions

DEFAULT_OS_VERSION = "Ubuntu 22.04 server 64bit"   # instances carry no OS in the fixtures
DEFAULT_MIN_DISK = 40                            # GB: an ECS system disk, whatever the file size
# Longest names first: "OpenSUSE" must win over "SUSE".
PLATFORMS = ["Oracle Linux", "OpenSUSE", "Red Hat", "RedHat", "Windows", "Ubuntu", "SUSE",
             "CentOS", "Debian", "Fedora", "CoreOS", "EulerOS"]
# Glance's default disk_formats hold no zvhd/zvhd2: other extensions are stored as raw.
DISK_FORMATS = {".qcow2": "qcow2", ".vhd": "vhd", ".vhdx": "vhdx", ".vmdk": "vmdk",
                ".vdi": "vdi", ".iso": "iso", ".raw": "raw", ".img": "raw"}
ENV_TYPES = {"ECS": "FusionCompute", "FusionCompute": "FusionCompute", "BMS": "Ironic",
             "Ironic": "Ironic", "IsoImage": "IsoImage"}


def platform_of(os_version):
    low = os_version.lower()
    for p in PLATFORMS:
        if low.startswith(p.lower()):
            return "RedHat" if p == "Red Hat" else p
    return "Other"


def os_properties(os_version, os_type=None):
    """__os_version and what IMS derives from it: __platform, __os_type, __os_bit."""
    entry = osversions.KNOWN.get(os_version)
    if entry:
        _, platform, known_type, bits, _ = entry
        return {"__os_version": os_version, "__platform": platform,
                "__os_type": os_type or known_type, "__os_bit": str(bits)}
    platform = platform_of(os_version)
    return {"__os_version": os_version, "__platform": platform,
            "__os_type": os_type or ("Windows" if platform == "Windows" else "Linux"),
            "__os_bit": "32" if "32bit" in os_version.replace(" ", "").lower() else "64"}


def disk_format_of(path):
    return DISK_FORMATS.get(os.path.splitext(path)[1].lower(), "raw")


def image_fields(name, source_path, *, os_version=None, os_type=None, env="FusionCompute",
                 description=None, tags=(), min_disk=None, min_ram=None, max_ram=None,
                 enterprise_project_id=None, origin=None, extra=None):
    """Fields for POST /v2/images of a private IMS image whose bytes come from the existing file
    `source_path`. Data images (env "DataImage") carry no OS version or platform."""
    fields = {
        "name": name,
        "container_format": "bare",
        "disk_format": disk_format_of(source_path),
        "visibility": "private",
        "tags": list(tags),
        "__imagetype": "private",
        "__isregistered": "true",
        "__image_source_type": "uds",
        "__image_size": str(os.path.getsize(source_path)),
        "virtual_env_type": env,
        "enterprise_project_id": enterprise_project_id or "0",
    }
    if env == "DataImage":
        fields["__os_type"] = os_type or "Linux"
    else:
        fields.update(os_properties(os_version or DEFAULT_OS_VERSION, os_type))
    for key, value in (("min_disk", min_disk), ("min_ram", min_ram)):
        if value is not None:
            fields[key] = value
    if max_ram:
        fields["max_ram"] = str(max_ram)
    if description:
        fields["__description"] = description
    if origin:
        fields["__data_origin"] = origin
    fields.update(extra or {})
    return fields
