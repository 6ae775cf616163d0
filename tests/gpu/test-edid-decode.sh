#!/bin/sh
# SPDX-License-Identifier: MIT
# The generated EDIDs pass a real parser's conformity check (edid-decode --check).
dump="$1"
if ! command -v edid-decode >/dev/null 2>&1; then
	echo "SKIP: edid-decode is not installed (apt-get install edid-decode)"
	exit 77
fi
fail=0
for size in 16x16 64x64 640x480 1024x768 1280x800 1920x1080 2560x1600 3840x2160 4095x4095 \
	    4096x2160 5120x2880 7680x4320 16384x16384 16384x16 16x16384 12345x777; do
	w=${size%x*}
	h=${size#*x}
	out=$("$dump" "$w" "$h" | edid-decode --check 2>&1)
	if printf '%s\n' "$out" | grep -q "EDID conformity: PASS"; then
		echo "ok   $size"
	else
		echo "FAIL $size"
		printf '%s\n' "$out" | sed -n '/^Warnings/,$p'
		fail=1
	fi
done
exit $fail
