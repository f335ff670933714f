"""The OS versions IMS accepts (GET /v1/cloudimages/os_version, and the `os_version` field of the
calls that create images): a realistic excerpt of Huawei's list, grouped by platform as the
API answers. `tag` filters by what a version supports (bms, uefi, arm, x86)."""

# (os_version, platform, os_type, os_bit, supports)
_VERSIONS = [
    ("Ubuntu 24.04 server 64bit", "Ubuntu", "Linux", 64, "x86 arm uefi bms"),
    ("Ubuntu 22.04 server 64bit", "Ubuntu", "Linux", 64, "x86 arm uefi bms"),
    ("Ubuntu 20.04 server 64bit", "Ubuntu", "Linux", 64, "x86 arm uefi bms"),
    ("Ubuntu 18.04 server 64bit", "Ubuntu", "Linux", 64, "x86 uefi"),
    ("Debian GNU/Linux 12.0.0 64bit", "Debian", "Linux", 64, "x86 arm uefi"),
    ("Debian GNU/Linux 11.1.0 64bit", "Debian", "Linux", 64, "x86 arm uefi"),
    ("Debian GNU/Linux 10.0.0 64bit", "Debian", "Linux", 64, "x86 uefi"),
    ("CentOS 8.2 64bit", "CentOS", "Linux", 64, "x86 arm uefi"),
    ("CentOS 7.9 64bit", "CentOS", "Linux", 64, "x86 arm uefi bms"),
    ("CentOS 7.6 64bit", "CentOS", "Linux", 64, "x86 bms"),
    ("EulerOS 2.9 64bit", "EulerOS", "Linux", 64, "x86 arm uefi bms"),
    ("EulerOS 2.5 64bit", "EulerOS", "Linux", 64, "x86 bms"),
    ("openEuler 22.03 64bit", "openEuler", "Linux", 64, "x86 arm uefi"),
    ("openEuler 20.03 64bit", "openEuler", "Linux", 64, "x86 arm uefi"),
    ("Huawei Cloud EulerOS 2.0 64bit", "Huawei Cloud EulerOS", "Linux", 64, "x86 arm uefi bms"),
    ("Rocky Linux 9.0 64bit", "Rocky", "Linux", 64, "x86 arm uefi"),
    ("AlmaLinux 9.0 64bit", "AlmaLinux", "Linux", 64, "x86 arm uefi"),
    ("Red Hat Linux Enterprise 8.4 64bit", "RedHat", "Linux", 64, "x86 uefi bms"),
    ("SUSE Linux Enterprise Server 15 SP3 64bit", "SUSE", "Linux", 64, "x86 uefi bms"),
    ("OpenSUSE 15.3 64bit", "OpenSUSE", "Linux", 64, "x86 uefi"),
    ("Oracle Linux Server release 8.4 64bit", "Oracle Linux", "Linux", 64, "x86 uefi"),
    ("Fedora 36 64bit", "Fedora", "Linux", 64, "x86 uefi"),
    ("CoreOS 2023.4.0 64bit", "CoreOS", "Linux", 64, "x86"),
    ("Kylin V10 64bit", "Kylin", "Linux", 64, "x86 arm uefi"),
    ("Other Linux(64 bit)", "Other", "Linux", 64, "x86 arm uefi"),
    ("Other Linux(32 bit)", "Other", "Linux", 32, "x86"),
    ("Windows Server 2022 Standard 64bit", "Windows", "Windows", 64, "x86 uefi"),
    ("Windows Server 2019 Standard 64bit", "Windows", "Windows", 64, "x86 uefi bms"),
    ("Windows Server 2016 Standard 64bit", "Windows", "Windows", 64, "x86 uefi"),
    ("Windows Server 2012 R2 Standard 64bit", "Windows", "Windows", 64, "x86"),
    ("Other Windows(64 bit)", "Other", "Windows", 64, "x86"),
]
TAGS = ("bms", "uefi", "arm", "x86")
KNOWN = {v[0]: v for v in _VERSIONS}


def known(os_version):
    return os_version in KNOWN


def listing(tags=()):
    """The response body: [{platform, version_list: [{platform, os_version_key, os_version,
    os_bit, os_type}]}], in list order, only versions supporting every tag given."""
    out, by_platform = [], {}
    for version, platform, os_type, bits, supports in _VERSIONS:
        if not all(t in supports.split() for t in tags):
            continue
        if platform not in by_platform:
            by_platform[platform] = {"platform": platform, "version_list": []}
            out.append(by_platform[platform])
        by_platform[platform]["version_list"].append({
            "platform": platform, "os_version_key": version, "os_version": version,
            "os_bit": bits, "os_type": os_type})
    return out
