#!/bin/sh
# The one install step of every modelport image, and of the test that keeps the
# images honest (tests/deploy/test_images.py runs it in a venv):
#   install.sh EXTRAS VENV     e.g.  install.sh "" /opt/venv   (runtime only)
#                                    install.sh "server,s3" /opt/venv
# Run from the source tree; every package is pinned by constraints.txt.
set -eu
extras="$1"
venv="$2"
python3 -m venv "$venv"
"$venv/bin/pip" install --no-cache-dir --upgrade "pip==25.3"
if [ -n "$extras" ]; then
    target=".[${extras}]"
else
    target="."
fi
"$venv/bin/pip" install --no-cache-dir -c constraints.txt "$target"
