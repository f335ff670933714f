#!/usr/bin/env bash
# The hashing bound of a verified download: SHA-512 of the same file, one openssl process.
# usage: openssl_sha512.sh PATH
set -euo pipefail
exec openssl dgst -sha512 -r "$1"
