#!/usr/bin/env bash
# Fails when docs/TRUSTED.md's line counts no longer match the files they describe.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0 n=0
while IFS='|' read -r _ file lines _; do
  file=$(echo "$file" | tr -d ' `'); lines=$(echo "$lines" | tr -d ' ')
  [[ -f $file && $lines =~ ^[0-9]+$ ]] || continue
  n=$((n + 1))
  actual=$(wc -l < "$file")
  if [[ $actual -ne $lines ]]; then
    echo "docs/TRUSTED.md says $file has $lines lines; it has $actual"
    bad=1
  fi
done < docs/TRUSTED.md
[[ $n -gt 0 ]] || { echo "no entries read from docs/TRUSTED.md"; exit 1; }
echo "docs/TRUSTED.md: $n entries checked"
exit $bad
