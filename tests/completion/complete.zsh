#!/usr/bin/env zsh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Usage: zsh -f complete.zsh DIR 'LINE'
# Types LINE and Tab in an interactive zsh (in a pseudo-terminal, zpty) whose
# fpath starts with DIR and that ran compinit, and prints the matches the
# completion offered, one a line (what reached compadd, captured on the way).
emulate -L zsh
zmodload zsh/zpty || exit 77

dir=$1 line=$2
out=$(mktemp) || exit 1
trap 'rm -f -- $out; zpty -d comp 2>/dev/null' EXIT

zpty comp env -u ZDOTDIR HOME=/nonexistent TERM=dumb zsh -f -i
zpty -w comp "fpath=(${(q)dir} \$fpath); autoload -Uz compinit; compinit -u -d /dev/null"
zpty -w comp "compadd() { local -a _m; builtin compadd -O _m \"\$@\"; print -rl -- \$_m >> ${(q)out}; builtin compadd \"\$@\" }"
zpty -w comp "print -r -- READY-\$((6*7))"
# Wait for the shell to have run the setup.
for i in {1..300}; do
  if zpty -r -t comp chunk 2>/dev/null; then
    [[ $chunk == *READY-42* ]] && break
  else
    sleep 0.1
  fi
done
zpty -w -n comp "$line"$'\t'
# Keys are read in turn: once the line is killed (Ctrl-U) and the marker
# printed, the completion has run and every match is in the file.
zpty -w -n comp $'\x15'
zpty -w comp "print -r -- DONE-\$((6*7))"
done=0
for i in {1..300}; do
  if zpty -r -t comp chunk 2>/dev/null; then
    [[ $chunk == *DONE-42* ]] && { done=1; break }
  else
    sleep 0.1
  fi
done
(( done )) || { print -u2 "complete.zsh: zsh did not finish the completion"; exit 1 }
sort -u $out
