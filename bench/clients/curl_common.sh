# shellcheck shell=bash disable=SC2034  # G and H are used by the scripts that source this
# Sourced by the curl_*.sh bench clients: the Glance URL and the identity headers bench/run
# passes (BENCH_GLANCE_URL, BENCH_PROJECT, BENCH_USER), as curl arguments in H.
: "${BENCH_GLANCE_URL:?run bench/run}" "${BENCH_PROJECT:?}" "${BENCH_USER:?}"
G=$BENCH_GLANCE_URL
H=(-H "X-Identity-Status: Confirmed" -H "X-Project-Id: $BENCH_PROJECT"
   -H "X-User-Id: $BENCH_USER" -H "X-Roles: member,reader")
