#!/bin/sh
# First step of `npm start` and `npm test`: installs the npm packages when they are missing or older than
# package.json / package-lock.json, so a fresh clone needs no `npm install` before either command. The
# packages include Node 24 (the `node` dev dependency): npm put node_modules/.bin first on PATH before the
# script began, so every `node` after this step in the same script is that one, whatever the machine has.
#
# "Older" compares with node_modules/.package-lock.json, npm's own record of what it installed (rewritten
# by every npm install, after package-lock.json).
set -eu
cd "$(dirname "$0")/.."
installed=node_modules/.package-lock.json
if [ ! -x node_modules/.bin/node ] || [ ! -f "$installed" ] || [ package.json -nt "$installed" ] || [ package-lock.json -nt "$installed" ]; then
  echo "ktask: installing npm packages (npm install), Node 24 for the scripts among them…" >&2
  npm install --no-audit --no-fund >&2
fi
