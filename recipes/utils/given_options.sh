# shellcheck shell=bash
# given_options ARRAY --name VALUE ...: append each `--name VALUE` pair whose VALUE is not empty
# to the array ARRAY. A top-level recipe declares the options it only passes on to another
# recipe as empty, so that the other recipe's own default (declared there, once) holds unless
# one is given:
#
#   iterations=          # run.sh: "" is lda.sh's default
#   . parse_options.sh
#   lda_options=()
#   given_options lda_options --iterations "$iterations"
#   lda.sh "${lda_options[@]}"     # --iterations 3 only if the user gave --iterations 3

given_options() {
  local -n _go_into=$1
  shift
  (($# % 2 == 0)) || { echo "given_options: expected --name VALUE pairs, got: $*" >&2; return 1; }
  while (($# > 0)); do
    [[ -z $2 ]] || _go_into+=("$1" "$2")
    shift 2
  done
}
