#!/usr/bin/env bash
# Prepares Chinese classical poetry (Debian package fortunes-zh: 300 Tang
# poems and 100 Song lyrics) as character-level text into data/zh-poetry/:
#   all.txt     one verse line per line, one token per character
#   train.txt   lines whose 0-based index i has i % 10 != 9
#   test.txt    lines with i % 10 == 9 (valid.txt is the same split)
# Normalisation (docs/ngram.md): colour escape codes removed; titles (《…》),
# author lines (作者：…) and the '%' separators dropped; every remaining
# character, punctuation included, becomes its own space-separated token.
# Splitting is UTF-8 aware (GNU sed in the C.UTF-8 locale).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-"$root/data/zh-poetry"}
src=/usr/share/games/fortunes
for f in tang300 song100; do
  [[ -r $src/$f ]] || { echo "prepare-zh-poetry: $src/$f is missing (apt-get install fortunes-zh)" >&2; exit 1; }
done
mkdir -p "$out"
tmp=$(mktemp -d "$out/.prepare.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cat "$src/tang300" "$src/song100" \
  | sed -E 's/\x1b\[[0-9;]*m//g' \
  | grep -v -e '^%$' -e '《' -e '作者：' \
  | LC_ALL=C.UTF-8 sed -E 's/[[:space:]]+//g; s/./& /g; s/ $//' \
  | grep -v '^$' > "$tmp/all.txt"
awk 'NR % 10 != 0' "$tmp/all.txt" > "$tmp/train.txt"
awk 'NR % 10 == 0' "$tmp/all.txt" > "$tmp/test.txt"
cp "$tmp/test.txt" "$tmp/valid.txt"
mv "$tmp"/*.txt "$out/"
echo "prepare-zh-poetry: $(wc -l < "$out/train.txt") train and $(wc -l < "$out/test.txt") test lines in $out"
