#!/usr/bin/env bash
# Prepares a corpus of more than 25 million tokens for the n-gram toolkit at
# scale (bench/ngram_bench.sh --scale), from English text that Debian packages
# install, into data/scale/:
#   corpus.txt    the text, one line per source line, normalised like KJV
#   packages.txt  the packages it was made from: name, version, tokens taken
# Sources, in this order: the King James Bible (scripts/prepare-kjv.sh, one
# verse per line), then for each package in PACKAGES below, in that order, its
# manual pages (English, /usr/share/man/man*), its HTML documentation and its
# other text documentation under /usr/share/doc (file lists sorted in the C
# locale), and the fortune files of the fortune packages.
# Markup is stripped first: troff requests and escapes from manual pages, tags
# and entities from HTML. Then the KJV normalisation (scripts/prepare-kjv.sh):
# lowercase, every character that is not [a-z0-9] or whitespace its own
# token, whitespace collapsed, empty lines dropped. Invalid UTF-8 is dropped.
# The output depends only on the versions of the packages listed (printed in
# packages.txt), not on what else the machine has installed.
#
#   scripts/prepare-scale-corpus.sh [out-dir]
set -euo pipefail
export LC_ALL=C.UTF-8
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-"$root/data/scale"}
# Debian 12 (bookworm), section main. Documentation first, fortunes last.
PACKAGES=(python3.11-doc perl-doc git-doc manpages manpages-dev debian-policy gnu-standards
          bash-doc postgresql-doc-15 linux-doc-6.1 sqlite3-doc libssl-doc tcl8.6-doc fortunes fortunes-min)
NEEDED=(bible-kjv "${PACKAGES[@]}")

missing=()
for p in "${NEEDED[@]}"; do
  [[ $(dpkg-query -W -f '${db:Status-Status}' "$p" 2> /dev/null) == installed ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "prepare-scale-corpus: missing packages: ${missing[*]} (apt-get install ${missing[*]})" >&2
  exit 1
fi
[[ -f $root/data/kjv/all.txt ]] || "$root/scripts/prepare-kjv.sh" > /dev/null

mkdir -p "$out"
tmp=$(mktemp -d "$out/.prepare.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Each filter reads raw text on stdin and writes plain text.
strip_troff() {
  sed -E '/^[.'"'"']\\"/d; s/^[.'"'"'][ \t]*[A-Za-z]+[ \t]*//;
          s/\\f(\[[^]]*\]|\(..|.)//g; s/\\\*(\[[^]]*\]|\(..|.)//g; s/\\(\[[^]]*\]|\(..)/ /g;
          s/\\[-e]/-/g; s/\\[&|^%c]//g; s/\\(.)/\1/g'
}
strip_html() {
  sed -E 's/<[^>]*>/ /g; s/<[^>]*$//; s/^[^<]*>//; s/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g; s/&#39;/'"'"'/g;
          s/&nbsp;/ /g; s/&amp;/\&/g; s/&#?[A-Za-z0-9]+;/ /g'
}
normalise() {
  iconv -f UTF-8 -t UTF-8 -c \
    | tr 'A-Z' 'a-z' \
    | sed -E 's/([^a-z0-9[:space:]])/ \1 /g; s/[[:space:]]+/ /g; s/^ //; s/ $//' \
    | grep -v '^$' || true
}
# cat_files <list>: the files (gzip-compressed or not), one after another.
cat_files() { [[ -s $1 ]] && tr '\n' '\0' < "$1" | xargs -0 zcat -f --; true; }

echo "bible-kjv $(dpkg-query -W -f '${Version}' bible-kjv) $(wc -w < "$root/data/kjv/all.txt")" > "$tmp/packages.txt"

cp "$root/data/kjv/all.txt" "$tmp/corpus.txt"
for p in "${PACKAGES[@]}"; do
  # Regular files only (symbolic links would count a text twice).
  dpkg-query -L "$p" | LC_ALL=C sort -u | while IFS= read -r f; do [[ -f $f && ! -L $f ]] && echo "$f"; done \
    > "$tmp/files" || true
  grep -E '^/usr/share/man/man[^/]*/[^/]+$' "$tmp/files" > "$tmp/man" || true
  grep -E '^/usr/share/doc/.*\.html?(\.gz)?$' "$tmp/files" > "$tmp/html" || true
  # A package with HTML documentation often ships its sources as well (reST,
  # AsciiDoc, plain-text renderings): then the HTML alone, else the text.
  if [[ -s $tmp/html ]]; then
    : > "$tmp/text"
  else
    grep -E '^/usr/share/doc/' "$tmp/files" | grep -E '/([^./]+|[^/]+\.(txt|md|rst|pod))(\.gz)?$' > "$tmp/text" || true
  fi
  grep -E '^/usr/share/games/fortunes/[^/]+$' "$tmp/files" | grep -vE '\.(dat|u8)$' > "$tmp/fortunes" || true
  {
    cat_files "$tmp/man" | strip_troff
    cat_files "$tmp/html" | strip_html
    cat_files "$tmp/text"
    cat_files "$tmp/fortunes" | grep -v '^%$' || true
  } | normalise > "$tmp/part.txt"
  echo "$p $(dpkg-query -W -f '${Version}' "$p") $(wc -w < "$tmp/part.txt")" >> "$tmp/packages.txt"
  cat "$tmp/part.txt" >> "$tmp/corpus.txt"
done

read -r lines words < <(wc -lw < "$tmp/corpus.txt")
types=$(tr ' ' '\n' < "$tmp/corpus.txt" | LC_ALL=C sort -u | wc -l)
mv "$tmp/corpus.txt" "$tmp/packages.txt" "$out/"
echo "prepare-scale-corpus: $words tokens ($((words + lines)) with one </s> per line), $types types, $lines lines in $out/corpus.txt"
echo "prepare-scale-corpus: packages: $(tr '\n' ' ' < "$out/packages.txt" | sed 's/ $//')"
((words >= 25000000)) || { echo "prepare-scale-corpus: expected at least 25,000,000 tokens, got $words" >&2; exit 1; }
