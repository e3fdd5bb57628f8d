# shellcheck shell=bash
# Kaldi-style command-line options for recipe scripts; source it after declaring the options.
#
#   stage=0          # every lowercase variable set before sourcing is an option
#   use_gpu=false    # a variable holding true|false is a boolean: it takes only true|false
#   . parse_options.sh
#
# Then `script.sh --stage 2 --use-gpu true data/train` sets stage=2 and use_gpu=true and leaves
# "data/train" in "$@". Options (`--foo-bar value` or `--foo-bar=value`) come before the
# arguments; `--` ends them. An option that was not declared is an error listing the declared
# ones. `--config FILE` first reads `name=value` lines from FILE (blank lines and `#` comments
# allowed, values optionally quoted, nothing executed), whatever its place on the command line;
# the other options then override it. `--help` (`-h`) prints the script's header comment and
# the options with their current values, then exits.
# Exported and uppercase variables (PATH, VIRTUAL_ENV...) are never options.

_po_script=${BASH_SOURCE[1]:-$0}

_po_names=()
for _po_name in $(compgen -v); do
  if [[ $_po_name =~ ^[a-z][a-z0-9_]*$ && ${!_po_name@a} != *[xaAr]* ]]; then
    _po_names+=("$_po_name")
  fi
done
unset _po_name

_po_fail() {
  echo "$(basename "$_po_script"): $*" >&2
  exit 1
}

_po_declared() {
  local name
  for name in "${_po_names[@]}"; do
    [[ $name == "$1" ]] && return 0
  done
  return 1
}

_po_option_list() {
  local name
  for name in "${_po_names[@]}"; do
    printf ' --%s' "${name//_/-}"
  done
}

# _po_set WHERE NAME VALUE: assign a declared option, checking booleans; WHERE prefixes errors.
_po_set() {
  local where=$1 name=$2 value=$3
  _po_declared "$name" ||
    _po_fail "${where}unknown option --${name//_/-}; the options are:$(_po_option_list)"
  if [[ (${!name} == true || ${!name} == false) && $value != true && $value != false ]]; then
    _po_fail "${where}--${name//_/-} is a boolean: expected true or false, got '$value'"
  fi
  printf -v "$name" '%s' "$value"
}

# _po_read_config FILE: apply the `name=value` lines of FILE.
_po_read_config() {
  local file=$1 line number=0 name value
  [[ -f $file ]] || _po_fail "--config $file: no such file"
  while IFS= read -r line || [[ -n $line ]]; do
    number=$((number + 1))
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
    if [[ ! $line =~ ^[[:space:]]*([a-z][a-z0-9_]*)=(.*)$ ]]; then
      _po_fail "$file:$number: expected name=value, got: $line"
    fi
    name=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then
      value=${BASH_REMATCH[1]}
    fi
    _po_set "$file:$number: " "$name" "$value"
  done <"$file"
}

_po_help() {
  local line name
  while IFS= read -r line; do
    [[ $line == '#!'* || $line == '# shellcheck '* ]] && continue
    [[ $line == '#'* ]] || break
    line=${line#\#}
    echo "${line# }"
  done <"$_po_script"
  echo
  echo "Current values:"
  for name in "${_po_names[@]}"; do
    printf '  --%-22s "%s"\n' "${name//_/-}" "${!name}"
  done
}

# --config files first, wherever they stand among the options.
_po_args=("$@")
for ((_po_i = 0; _po_i < ${#_po_args[@]}; _po_i++)); do
  case ${_po_args[_po_i]} in
    --) break ;;
    --config) _po_read_config "${_po_args[++_po_i]:-}" ;;
    --config=*) _po_read_config "${_po_args[_po_i]#--config=}" ;;
    -h | --help | --*=*) ;;
    --*) _po_i=$((_po_i + 1)) ;;
    *) break ;;
  esac
done

while (($# > 0)); do
  case $1 in
    -h | --help)
      _po_help
      exit 0
      ;;
    --)
      shift
      break
      ;;
    --config=*) shift ;;
    --*=*)
      _po_name=${1%%=*}
      _po_name=${_po_name#--}
      _po_set "" "${_po_name//-/_}" "${1#*=}"
      shift
      ;;
    --*)
      (($# >= 2)) || _po_fail "option $1 needs a value"
      _po_name=${1#--}
      [[ $1 == --config ]] || _po_set "" "${_po_name//-/_}" "$2"
      shift 2
      ;;
    *) break ;;
  esac
done

unset _po_script _po_names _po_args _po_i _po_name
unset -f _po_fail _po_declared _po_option_list _po_set _po_read_config _po_help
