#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A clone of this repository must build and test on its own, with nothing beside it.
# Exports the tracked tree (HEAD plus uncommitted changes to tracked files, as `git stash create`
# records them) into an empty directory — no sibling folders — and checks that
#   1. no file names a path outside the repository (the reference folder beside the checkout);
#   2. the README's two quick-start commands name scripts that exist in the copy;
#   3. the whole project configures there (every CMakeLists, tests included);
#   4. the pure layers and their vector tests build and pass there (HG_PROTO_ONLY), and the fuzz
#      seed corpora regenerate from the copy's own vectors unchanged.
# Usage: check_self_contained.sh REPO_ROOT SCRATCH_DIR
set -euo pipefail
root=$(cd "$1" && pwd)
scratch=$2
rm -rf "$scratch"
mkdir -p "$scratch/empty"
copy="$scratch/empty/hybridgate"
mkdir "$copy"

rev=$(git -C "$root" stash create 2>/dev/null || true)
git -C "$root" archive "${rev:-HEAD}" | tar -x -C "$copy"
[ -z "$(ls -A "$scratch/empty" | grep -v '^hybridgate$' || true)" ] || { echo "FAIL: the copy has siblings"; exit 1; }

# 1. References outside the repository.
outside='\.\./shar[e]d|shar[e]d/spec'  # spelled so that this file does not match itself
if grep -rIn -E "$outside" "$copy"; then
  echo "FAIL: files above name paths outside the repository"
  exit 1
fi
echo "ok: no file names a path outside the repository"

# 2. The quick start.
for cmd in $(sed -n '/^## Quick start/,/^## /p' "$copy/README.md" | grep -oE '\./scripts/[a-z_]+\.sh' | sort -u); do
  [ -x "$copy/$cmd" ] || { echo "FAIL: README quick start names $cmd, which is not an executable file"; exit 1; }
  echo "ok: README quick start command $cmd exists"
done

# ccache keys on paths relative to the copy: later runs hit the cache.
export CCACHE_BASEDIR="$scratch"
# 3. The whole project configures (no build).
cmake -S "$copy" -B "$copy/build-all" -G Ninja >"$scratch/configure-all.log" 2>&1 ||
  { cat "$scratch/configure-all.log"; echo "FAIL: the project does not configure on its own"; exit 1; }
echo "ok: the whole project configures on its own"

# 4. The pure layers and their vector tests.
cmake -S "$copy" -B "$copy/build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DHG_PROTO_ONLY=ON >"$scratch/configure.log" 2>&1 ||
  { cat "$scratch/configure.log"; echo "FAIL: HG_PROTO_ONLY does not configure"; exit 1; }
ninja -C "$copy/build" -j "${HG_JOBS:-2}" test_proto >"$scratch/build.log" 2>&1 ||
  { tail -40 "$scratch/build.log"; echo "FAIL: test_proto does not build on its own"; exit 1; }
(cd "$copy/build" && ctest -R '^unit\.proto\.' --output-on-failure >"$scratch/ctest.log" 2>&1) ||
  { tail -40 "$scratch/ctest.log"; echo "FAIL: the vector tests fail in the copy"; exit 1; }
grep -E "tests passed" "$scratch/ctest.log"
/usr/bin/python3 "$copy/tests/fuzz/make_corpus.py" >/dev/null
# Every seed the script writes equals the committed one (seeds added by hand are only in the tree).
bad=$(diff -r "$root/tests/fuzz/corpus" "$copy/tests/fuzz/corpus" | grep -v "^Only in $root/" || true)
[ -z "$bad" ] || { echo "$bad"; echo "FAIL: the seed corpora do not regenerate from the copy's vectors"; exit 1; }
echo "ok: seed corpora regenerate unchanged from tests/vectors"
rm -rf "$scratch"
echo "PASS: the repository is self-contained"
