#!/usr/bin/env bash
# Test-only: fetches rasa-webchat 1.0.1 from the npm registry for tests/integration/test_widget_browser.py, which loads
# its prebuilt bundle (lib/index.js: React and socket.io-client included) in Chromium. Only the package
# tarball is needed, not its ~590 build-time dependencies, so this uses `npm pack` and checks the
# tarball's published sha512. Nothing is vendored; the folder is git-ignored.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="$here/rasa-webchat-1.0.1"
integrity="sha512-Ld1zVJvTAaTrs6A5p8t70agNNrKYRyXlvqXZRgBoDvKKUXbA0jhJKECi5bdPGlaR6jsmqWtVylHS+YqIqo0x8w=="

[ -f "$dest/lib/index.js" ] && exit 0
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
npm pack --silent --pack-destination "$tmp" rasa-webchat@1.0.1 >/dev/null
actual="sha512-$(python3 -c 'import base64, hashlib, sys; print(base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tmp/rasa-webchat-1.0.1.tgz")"
[ "$actual" = "$integrity" ] || { echo "rasa-webchat-1.0.1.tgz: unexpected checksum $actual" >&2; exit 1; }
tar -xzf "$tmp/rasa-webchat-1.0.1.tgz" -C "$tmp" package/lib package/LICENSE
mkdir -p "$dest"
mv "$tmp/package/lib" "$tmp/package/LICENSE" "$dest/"
echo "rasa-webchat 1.0.1 bundle in $dest"
