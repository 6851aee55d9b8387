#!/usr/bin/env bash
# Vendors Swagger UI, the API explorer every service serves at /docs, from the npm registry package
# `swagger-ui-dist` into services/kit/assets/swagger-ui/. The files are checked in and compiled into the
# binaries (include_bytes! in services/kit/src/http/docs.rs): nothing is fetched at build time or
# when a page is browsed, so the explorer works offline.
#
#   services/kit/assets/vendor-swagger-ui.sh            # the pinned version below
#   SWAGGER_UI_VERSION=5.36.0 services/kit/assets/vendor-swagger-ui.sh   # to upgrade: review, rebuild, commit
#
# Needs npm (it checks the tarball's integrity against the registry's). Keeps only what the page loads
# plus the licence files the Apache-2.0 licence asks a redistributor to ship.
set -euo pipefail
version=${SWAGGER_UI_VERSION:-5.35.0}
here="$(cd "$(dirname "$0")" && pwd)"
dest="$here/swagger-ui"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "swagger-ui-dist@$version" >/dev/null)
tar -xzf "$work/swagger-ui-dist-$version.tgz" -C "$work"
mkdir -p "$dest"
for f in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png LICENSE NOTICE; do
  cp "$work/package/$f" "$dest/$f"
done
# The bundle's last line points at a source map we do not ship; browsers would request it (a 404).
sed -i '/^\/\/# sourceMappingURL=/d' "$dest/swagger-ui-bundle.js"
sed -i '/^\/\*# sourceMappingURL=/d' "$dest/swagger-ui.css"
echo "$version" >"$dest/VERSION"
(cd "$dest" && sha256sum swagger-ui-bundle.js swagger-ui.css >SHA256SUMS)
echo "vendored swagger-ui-dist $version into $dest:"
ls -l "$dest"
