#!/usr/bin/env bash
# The Terraform checks of deploy/terraform, run by scripts/test:
#   1. terraform fmt -check -recursive
#   2. init -backend=false + validate of every module and example, against
#      the real hashicorp/aws provider schema (from a local filesystem mirror)
#   3. terraform test of every module and example (a mock AWS)
#   4. checkov over deploy/terraform: no failed check (skips are inline, with reasons)
#   5. emulator.sh: state_backend, queue and observability applied to moto,
#      Roster run on the queues Terraform made, then destroyed
#
# Needs: terraform >= 1.10, the provider mirror (ROSTER_TF_PROVIDER_MIRROR,
# default /opt/tf-plugins), CHECKOV (the checkov binary), and for step 5
# what emulator.sh says. Fails loudly when any is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
TF_ROOT=$PWD

fail() { echo "deploy/terraform: $*" >&2; exit 1; }

command -v terraform >/dev/null || fail "terraform is not installed (need >= 1.10; these machines carry it in /usr/local/bin)"
MIRROR="${ROSTER_TF_PROVIDER_MIRROR:-/opt/tf-plugins}"
[ -d "$MIRROR/registry.terraform.io/hashicorp/aws" ] \
  || fail "no hashicorp/aws provider mirror at $MIRROR (set ROSTER_TF_PROVIDER_MIRROR to the folder holding registry.terraform.io/hashicorp/aws/<version>/<os_arch>)"
[ -n "${CHECKOV:-}" ] && [ -x "$CHECKOV" ] || fail "CHECKOV must name the checkov binary (scripts/test installs it)"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The registry cannot be reached from here: hashicorp/aws comes from the
# mirror, nothing else is fetched. The committed tests/terraform.rc names
# the machines' mirror; another mirror gets a configuration of its own. The
# user's own ~/.terraformrc is left alone.
CLI_CONFIG="$TF_ROOT/tests/terraform.rc"
if [ "$MIRROR" != /opt/tf-plugins ]; then
  CLI_CONFIG="$WORK/terraform.rc"
  sed "s|\"/opt/tf-plugins\"|\"$MIRROR\"|" "$TF_ROOT/tests/terraform.rc" >"$CLI_CONFIG"
fi
grep -q "path *= *\"$MIRROR\"" "$CLI_CONFIG" || fail "$CLI_CONFIG does not name the mirror $MIRROR"
export TF_CLI_CONFIG_FILE="$CLI_CONFIG" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
export TF_ROOT WORK

echo "-- terraform fmt -check -recursive"
terraform fmt -check -recursive -diff "$TF_ROOT"

tests_run=0
for dir in modules/* examples/*; do
  # Each root gets its own data dir outside the tree (the provider is a
  # symlink into the mirror, nothing is copied).
  export TF_DATA_DIR="$WORK/data/$(echo "$dir" | tr / _)"
  echo "-- $dir: init, validate"
  terraform -chdir="$dir" init -backend=false -input=false -no-color >"$WORK/init.log" 2>&1 \
    || { cat "$WORK/init.log"; fail "$dir: terraform init failed"; }
  terraform -chdir="$dir" validate -no-color
  if compgen -G "$dir/tests/*.tftest.hcl" >/dev/null; then
    echo "-- $dir: terraform test"
    terraform -chdir="$dir" test -no-color | tee "$WORK/test.log" | grep -E '\.\.\. (pass|fail)|Success|Failure' || true
    grep -q '^Success!' "$WORK/test.log" || { cat "$WORK/test.log"; fail "$dir: terraform test failed"; }
    tests_run=$((tests_run + $(sed -n 's/^Success! \([0-9]*\) passed.*/\1/p' "$WORK/test.log")))
  fi
done
unset TF_DATA_DIR
echo "terraform test: $tests_run passed, 0 failed"

echo "-- checkov"
# --skip-download: no calls to the vendor's platform (unreachable here).
"$CHECKOV" -d "$TF_ROOT" --framework terraform --quiet --compact --skip-download \
  -o cli >"$WORK/checkov.log" 2>"$WORK/checkov.err" \
  || { cat "$WORK/checkov.log" "$WORK/checkov.err"; fail "checkov found failed checks"; }
grep -E 'Passed checks|Failed checks' "$WORK/checkov.log"
# A file checkov cannot parse is a file it did not scan.
if grep -Eq 'Parsing errors: [1-9]' "$WORK/checkov.log"; then
  "$CHECKOV" -d "$TF_ROOT" --framework terraform --skip-download -o json 2>/dev/null | grep -A3 '"parsing_errors"' || true
  fail "checkov could not parse some files (so it did not scan them)"
fi

echo "-- emulator: apply to moto, run Roster on it, destroy"
"$TF_ROOT/tests/emulator.sh"
