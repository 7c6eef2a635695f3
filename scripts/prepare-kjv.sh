#!/usr/bin/env bash
# Prepares the King James Bible (Debian packages bible-kjv, bible-kjv-text)
# as word-level text, one verse per line, into data/kjv/:
#   all.txt    31,102 normalised verses
#   train.txt  verses whose 0-based index i has i % 10 != 9 (27,992 lines)
#   test.txt   verses with i % 10 == 9 (3,110 lines)
#   valid.txt  the same lines as test.txt (there is one held-out split)
#   {all,train,test}.books.txt  the book of each verse (66 names: Ge … Rev),
#              line for line, for the "which book is this verse from" task
# Normalisation (docs/data.md): drop the verse reference, lowercase, make
# every character that is not [a-z0-9] or whitespace its own token, collapse
# whitespace. This is the normalisation of the KenLM reference data in
# tests/data/ngram, so numbers are comparable.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-"$root/data/kjv"}
command -v bible >/dev/null || { echo "prepare-kjv: the 'bible' program is missing (apt-get install bible-kjv)" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d "$out/.prepare.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
bible -f Gen1:1-Rev22:21 | grep -v '^$' > "$tmp/raw.txt"
sed -E 's/^([1-3]?[A-Za-z]+)[0-9]+:[0-9]+ .*/\1/' "$tmp/raw.txt" > "$tmp/all.books.txt"
sed -E 's/^[1-3]?[A-Za-z]+[0-9]+:[0-9]+ //' "$tmp/raw.txt" \
  | tr 'A-Z' 'a-z' \
  | sed -E 's/([^a-z0-9[:space:]])/ \1 /g; s/[[:space:]]+/ /g; s/^ //; s/ $//' \
  | grep -v '^$' > "$tmp/all.txt"
lines=$(wc -l < "$tmp/all.txt")
[[ $lines -eq 31102 ]] || { echo "prepare-kjv: expected 31102 verses, got $lines" >&2; exit 1; }
[[ $(wc -l < "$tmp/all.books.txt") -eq 31102 && $(sort -u "$tmp/all.books.txt" | wc -l) -eq 66 ]] \
  || { echo "prepare-kjv: expected 66 books over 31102 verses" >&2; exit 1; }
awk 'NR % 10 != 0' "$tmp/all.books.txt" > "$tmp/train.books.txt"
awk 'NR % 10 == 0' "$tmp/all.books.txt" > "$tmp/test.books.txt"
rm "$tmp/raw.txt"
awk 'NR % 10 != 0' "$tmp/all.txt" > "$tmp/train.txt"
awk 'NR % 10 == 0' "$tmp/all.txt" > "$tmp/test.txt"
cp "$tmp/test.txt" "$tmp/valid.txt"
mv "$tmp"/*.txt "$out/"
echo "prepare-kjv: $(wc -l < "$out/train.txt") train and $(wc -l < "$out/test.txt") test verses in $out"
