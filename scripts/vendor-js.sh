#!/usr/bin/env bash
# Refresh the dashboard's vendored JavaScript from the npm registry (no build step).
# The files are committed under src/lightkeeper/web/static/; run this only to upgrade.
set -euo pipefail
HTMX=2.0.11
UPLOT=1.6.32
here=$(cd "$(dirname "$0")/.." && pwd)
static="$here/src/lightkeeper/web/static"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "htmx.org@$HTMX" "uplot@$UPLOT" >/dev/null
tar xzf "htmx.org-$HTMX.tgz"
cp package/dist/htmx.min.js "$static/htmx.min.js"
cp package/LICENSE "$static/htmx.LICENSE"
rm -rf package
tar xzf "uplot-$UPLOT.tgz"
cp package/dist/uPlot.iife.min.js "$static/uPlot.iife.min.js"
cp package/dist/uPlot.min.css "$static/uPlot.min.css"
cp package/LICENSE "$static/uPlot.LICENSE"
echo "vendored htmx $HTMX and uPlot $UPLOT into $static"
