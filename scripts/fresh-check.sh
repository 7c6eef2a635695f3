#!/usr/bin/env bash
# What a new user meets: a pristine Debian 12 root (mmdebstrap), a clean clone
# of the current commit inside it, and the README's two commands run there:
#   1. scripts/main-job.sh (with a short training run, --set train.steps=N)
#   2. scripts/install-deps.sh && scripts/test.sh
# The root is built from the apt sources this machine already uses, so the
# check needs no mirror of its own. It prints the time of each phase and ends
# with one line: "fresh-check: PASS ..." or "fresh-check: FAIL ...".
#
# Usage (as root, on Debian 12; ~30-40 minutes on 2 cores):
#   scripts/fresh-check.sh [--steps N] [--keep] [--work DIR]
#     --steps N   training steps of the main job (default 200)
#     --keep      keep the root and its log afterwards (default: removed on success)
#     --work DIR  where the root is built (default: a new folder under /var/tmp)
# Only committed work is checked: uncommitted changes are not in the clone.
set -euo pipefail

steps=200
keep=0
work=""
while (($#)); do
  case $1 in
    --steps) steps=${2:?--steps needs a number}; shift 2 ;;
    --keep) keep=1; shift ;;
    --work) work=${2:?--work needs a folder}; shift 2 ;;
    -h | --help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fresh-check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $steps =~ ^[1-9][0-9]*$ ]] || { echo "fresh-check: --steps must be a positive integer, got '$steps'" >&2; exit 2; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
commit=$(git -C "$repo" rev-parse HEAD)
short=$(git -C "$repo" rev-parse --short HEAD)
if [[ $(id -u) -ne 0 ]]; then
  echo "fresh-check: FAIL (must run as root: it builds and enters a chroot)"
  exit 1
fi
if ! command -v mmdebstrap > /dev/null; then
  echo "== installing mmdebstrap (builds the pristine root)"
  apt-get update -q > /dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap > /dev/null
fi
# The two commands below are the README's; if the README changes them, so must this script.
for command in "scripts/main-job.sh" "scripts/install-deps.sh && scripts/test.sh"; do
  grep -qxF "$command" <(git -C "$repo" show HEAD:README.md) ||
    { echo "fresh-check: FAIL (README.md no longer has the line '$command'; update this script with it)"; exit 1; }
done
[[ -z $(git -C "$repo" status --porcelain) ]] ||
  echo "fresh-check: note: uncommitted changes are not checked; the clone is commit $short"

if [[ -z $work ]]; then work=$(mktemp -d /var/tmp/kiln-fresh-check.XXXXXX); fi
mkdir -p "$work"
root="$work/root"
log="$work/fresh-check.log"
: > "$log"
started=$(date +%s)
phase_name=""
phase_start=0
mounted=()

elapsed() { local s=$(($(date +%s) - $1)); printf '%dm %02ds' $((s / 60)) $((s % 60)); }
begin() {
  phase_name=$1
  phase_start=$(date +%s)
  echo "== [$(elapsed "$started")] $phase_name" | tee -a "$log"
}
end_phase() { echo "== $phase_name: done in $(elapsed "$phase_start")" | tee -a "$log"; }

unmount_all() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount -R "${mounted[i]}" 2> /dev/null || umount -lR "${mounted[i]}" 2> /dev/null || true
  done
  mounted=()
}

# Processes whose root is the chroot (a stopped check leaves them running, and they keep the mounts busy).
stop_root_processes() {
  local task
  for task in /proc/[0-9]*; do
    [[ $(readlink "$task/root" 2> /dev/null) == "$root" ]] && kill -KILL "${task#/proc/}" 2> /dev/null
  done
  return 0
}

# Every exit path unmounts; the root is removed only when nothing is mounted in it.
finish() {
  local status=$?
  stop_root_processes
  unmount_all
  if ((status != 0)); then
    echo "fresh-check: FAIL in phase '$phase_name' after $(elapsed "$started") (commit $short; log and root kept in $work)"
  elif ((keep == 0)) && ! findmnt -rn -o TARGET | grep -q "^$root"; then
    rm -rf --one-file-system "$work"
  fi
}
trap finish EXIT
trap 'exit 130' INT TERM

# deb822 and one-line sources of this machine, as files mmdebstrap pastes in.
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [[ -s $f ]] && sources+=("$f")
done
((${#sources[@]} > 0)) || { echo "fresh-check: no apt sources on this machine" >&2; exit 1; }

begin "pristine Debian 12 root (mmdebstrap, variant important)"
mmdebstrap --variant=important --quiet bookworm "$root" "${sources[@]}" >> "$log" 2>&1
cp /etc/resolv.conf "$root/etc/resolv.conf"
end_phase

begin "clean clone of $short"
git clone --quiet --no-hardlinks "$repo" "$root/root/kiln"
git -C "$root/root/kiln" checkout --quiet --detach "$commit"
end_phase

bind() {  # bind <host path> <fs type or 'rbind'>
  local target="$root$1"
  if [[ $2 == rbind ]]; then
    mount --rbind "$1" "$target" && mount --make-rslave "$target"
  else
    mount -t "$2" "$2" "$target"
  fi
  mounted+=("$target")
}
bind /proc proc
bind /sys rbind
bind /dev rbind

# in_root <command>: runs a bash command in the clone, as a new user's login shell would.
# In the background with `wait`, so that Ctrl-C or a TERM reaches the trap at once.
in_root() {
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c "cd /root/kiln && $1" > >(tee -a "$log") 2>&1 &
  wait $!
}

begin "README command 1: scripts/main-job.sh --set train.steps=$steps"
in_root "scripts/main-job.sh --set train.steps=$steps"
end_phase

begin "README command 2: scripts/install-deps.sh && scripts/test.sh"
in_root "scripts/install-deps.sh && scripts/test.sh"
end_phase

unmount_all
echo "fresh-check: PASS (commit $short, Debian $(cat "$root/etc/debian_version"), $(nproc) cores, total $(elapsed "$started"))"
