#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP: data/openapi.yaml passes the recommended rules of two OpenAPI linters
# with no warning at all: Spectral's spectral:oas (.spectral.yaml) and
# Redocly's recommended (redocly.yaml, exceptions in .redocly.lint-ignore.yaml).
# The linters are the versions pinned by tools/npm/package-lock.json
# (tools/setup.sh runs `npm ci` there).
# Usage: check-openapi-lint.sh SOURCE-ROOT
set -u
top=$1
bin=$top/tools/npm/node_modules/.bin
echo "1..2"
if ! command -v node >/dev/null; then
  echo "ok 1 # SKIP node is not installed (tools/setup.sh installs it)"
  echo "ok 2 # SKIP node is not installed (tools/setup.sh installs it)"
  exit 0
fi
cd "$top" || exit 1
# Nothing leaves the machine: no telemetry, no update check.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
status=0

if [ ! -x "$bin/spectral" ]; then
  echo "ok 1 # SKIP tools/npm/node_modules has no spectral (run tools/setup.sh: npm ci in tools/npm)"
elif out=$("$bin/spectral" lint --ruleset .spectral.yaml --fail-severity=warn \
             data/openapi.yaml 2>&1); then
  echo "ok 1 spectral lint (spectral:oas): no warnings"
else
  printf '%s\n' "$out" | sed 's/^/# /'
  echo "not ok 1 spectral lint (spectral:oas): warnings or errors"
  status=1
fi

if [ ! -x "$bin/redocly" ]; then
  echo "ok 2 # SKIP tools/npm/node_modules has no redocly (run tools/setup.sh: npm ci in tools/npm)"
else
  json=$("$bin/redocly" lint --config redocly.yaml --format=json data/openapi.yaml 2>/dev/null)
  totals=$(printf '%s' "$json" | node -e '
    let s = "";
    process.stdin.on("data", d => s += d).on("end", () => {
      try {
        const t = JSON.parse(s).totals;
        console.log(`${t.errors} ${t.warnings}`);
      } catch (e) {
        console.log("unreadable");
      }
    });')
  if [ "$totals" = "0 0" ]; then
    echo "ok 2 redocly lint (recommended): no warnings"
  else
    "$bin/redocly" lint --config redocly.yaml --format=stylish data/openapi.yaml 2>&1 | sed 's/^/# /'
    echo "not ok 2 redocly lint (recommended): errors and warnings: $totals"
    status=1
  fi
fi
exit $status
