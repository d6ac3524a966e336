#!/usr/bin/env bash
# Install a system program the course needs, if it is missing: graphviz (`dot`, for the graph
# pictures), bubblewrap (`bwrap`, the grader's sandbox), chromium (for the browser test) or
# cjk-fonts (the glossaries' Chinese terms; without a CJK font they show as empty boxes).
# As root we apt-get it; otherwise we say how.
set -euo pipefail
what="$1"
case "$what" in
  graphviz) binary=dot;              package=graphviz ;;
  bubblewrap) binary=bwrap;          package=bubblewrap ;;
  chromium) binary=/usr/bin/chromium; package=chromium ;;
  cjk-fonts) binary=""; package=fonts-noto-cjk ;;
  *) echo "system-deps.sh: unknown dependency '$what'" >&2; exit 2 ;;
esac
if [ -n "$binary" ]; then command -v "$binary" >/dev/null 2>&1 && exit 0
elif command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh family)" ]; then exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing $package with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$package" >/dev/null
elif [ "$what" = cjk-fonts ]; then
  echo "!! no CJK font found: the glossaries' Chinese terms will show as empty boxes."
  echo "   Install one with: sudo apt-get install fonts-noto-cjk   (macOS and Windows have one)"
elif [ "$what" = graphviz ]; then
  echo "!! graphviz's 'dot' is not installed: graphs will be shown as text."
  echo "   Install it with: sudo apt-get install graphviz   (or: conda install -c conda-forge graphviz)"
elif [ "$what" = bubblewrap ]; then
  echo "!! bubblewrap's 'bwrap' is not installed: the grader refuses to grade without its sandbox."
  echo "   Install it with: sudo apt-get install bubblewrap   (see INSTRUCTORS.md)"
else
  echo "!! chromium is not installed: the browser test will be skipped."
  echo "   Install it with: sudo apt-get install chromium"
fi
