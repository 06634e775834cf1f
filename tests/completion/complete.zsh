#!/usr/bin/env zsh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Usage: zsh -f complete.zsh DIR 'LINE'
# Types LINE and Tab in an interactive zsh (in a pseudo-terminal, zpty) whose
# fpath starts with DIR and that ran compinit, and prints the matches the
# completion offered, one a line (what reached compadd, captured on the way).
emulate -L zsh
zmodload zsh/zpty || exit 77

dir=$1 line=$2
home=$(mktemp -d) || exit 1
out=$home/matches
trap 'zpty -d comp 2>/dev/null; rm -rf -- $home' EXIT
: > $out

# The shell's own startup file: set up before its line editor starts, and
# a mark once the editor reads (typed keys before that could be discarded
# when it sets the terminal up).
cat > $home/.zshrc <<ZSHRC
fpath=(${(q)dir} \$fpath)
autoload -Uz compinit
compinit -u -d $home/.zcompdump
compadd() { local -a _m; builtin compadd -O _m "\$@"; print -rl -- \$_m >> ${(q)out}; builtin compadd "\$@" }
zle-line-init() { print -rn -- LINE-INIT-\$((6*7)) }
zle -N zle-line-init
ZSHRC

# Reads the shell's output until it shows @1; fails after 30 s.
wait_for() {
  local chunk seen= i
  for i in {1..300}; do
    if zpty -r -t comp chunk 2>/dev/null; then
      seen+=$chunk
      [[ $seen == *$1* ]] && return 0
    else
      sleep 0.1
    fi
  done
  print -u2 "complete.zsh: zsh did not show $1"
  return 1
}

zpty comp env ZDOTDIR=$home HOME=$home TERM=dumb zsh -d -i
wait_for LINE-INIT-42 || exit 1
zpty -w -n comp "$line"$'\t'
# Keys are read in turn: once the line is killed (Ctrl-U) and the marker
# printed, the completion has run and every match is in the file.
zpty -w -n comp $'\x15'
zpty -w comp "print -r -- DONE-\$((6*7))"
wait_for DONE-42 || exit 1
sort -u $out
