#!/usr/bin/env bash
# The main job, from a fresh clone on Debian 12:
#   1. install the Debian packages kiln needs (scripts/install-deps.sh);
#   2. build kiln (Release);
#   3. prepare the KJV Bible from the bible-kjv package (scripts/prepare-kjv.sh);
#   4. train the default decoder LM (configs/kjv.toml, about 10 minutes on 2 cores);
#   5. print its validation perplexity and samples.
# Extra arguments go to `kiln train`, e.g. --set train.steps=300 for a shorter run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

scripts/install-deps.sh
echo "== building kiln"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build kiln
echo "== preparing the KJV Bible"
scripts/prepare-kjv.sh
echo "== training configs/kjv.toml"
rm -rf runs/kjv
build/kiln train -c configs/kjv.toml "$@"
echo "== validation perplexity"
build/kiln eval runs/kjv --text data/kjv/valid.txt
echo "== samples"
for prompt in "in the beginning" "and the lord said unto moses ," "blessed are the"; do
  build/kiln generate runs/kjv --prompt "$prompt" --max-tokens 40 --temperature 0.8 --top-k 40 --seed 7
done
