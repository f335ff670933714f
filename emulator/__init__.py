"""The IMS emulator: Huawei IMS-native routes, IAM tokens and AK/SK on top of a real Glance
(see README.md beside this file; run with `/usr/bin/python3 -m emulator`)."""
