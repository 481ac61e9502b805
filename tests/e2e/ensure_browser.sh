#!/bin/sh
# The browser tests drive Debian's chromium (Playwright's own download is not used) and
# need a CJK font to render the hall's Chinese pages.
set -e
if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "wenquanyi\|wqy"; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium fonts-wqy-microhei
