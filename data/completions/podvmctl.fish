# SPDX-License-Identifier: LGPL-2.1-or-later
# fish completion for podvmctl: commands, subcommands, options, -o formats,
# files for -f, and pod and volume names asked of podvmd (podvmctl list -o name).

# --session when the command line has it: names come from the same daemon.
function __podvmctl_bus
    set -l tokens (commandline -opc)
    if contains -- --session $tokens
        echo --session
    else if contains -- --system $tokens
        echo --system
    end
end

function __podvmctl_pods
    podvmctl (__podvmctl_bus) list -o name 2>/dev/null
end

# Pods not yet on the command line (commands that take several).
function __podvmctl_other_pods
    set -l tokens (commandline -opc)
    for pod in (__podvmctl_pods)
        contains -- $pod $tokens; or echo $pod
    end
end

function __podvmctl_volumes
    podvmctl (__podvmctl_bus) volume list -o name 2>/dev/null
end

# Whether the command has no positional argument yet (only options after it).
function __podvmctl_needs_name
    set -l tokens (commandline -opc)
    set -l seen_command 0
    for token in $tokens[2..-1]
        switch $token
            case '-*'
                continue
        end
        if test $seen_command = 0
            set seen_command 1
        else
            return 1
        end
    end
    return 0
end

set -l multi_commands start stop kill pause resume restart delete
# Commands whose first argument is not a pod; every other one takes a pod name first.
set -l other_commands $multi_commands create run list drain version image volume help

complete -c podvmctl -f
complete -c podvmctl -n __fish_use_subcommand -l session -d 'Talk to podvmd on the session bus'
complete -c podvmctl -n __fish_use_subcommand -l system -d 'Talk to podvmd on the system bus'
complete -c podvmctl -n __fish_use_subcommand -l version -d 'Print the version and exit'

# podvmctl's own list ("NAME<TAB>SUMMARY"): commands added later are known too.
complete -c podvmctl -n __fish_use_subcommand -a '(podvmctl --list-commands 2>/dev/null)'
complete -c podvmctl -n __fish_use_subcommand -a help -d 'Show the help of a command'

# Names
complete -c podvmctl -n "__fish_seen_subcommand_from $multi_commands" -a '(__podvmctl_other_pods)'
complete -c podvmctl -n "not __fish_use_subcommand; and not __fish_seen_subcommand_from $other_commands; and __podvmctl_needs_name" -a '(__podvmctl_pods)'
complete -c podvmctl -n '__fish_seen_subcommand_from help' -a '(podvmctl --list-commands 2>/dev/null)'

# Subcommands of volume and image
complete -c podvmctl -n '__fish_seen_subcommand_from volume; and not __fish_seen_subcommand_from create list show delete' -a 'create list show delete'
complete -c podvmctl -n '__fish_seen_subcommand_from volume; and __fish_seen_subcommand_from show delete' -a '(__podvmctl_volumes)'
complete -c podvmctl -n '__fish_seen_subcommand_from image; and not __fish_seen_subcommand_from pull list rm prune' -a 'pull list rm prune'

# Options
complete -c podvmctl -n '__fish_seen_subcommand_from create run attach-disk attach-nic' -s f -l filename -rF -d 'JSON or YAML file'
complete -c podvmctl -n '__fish_seen_subcommand_from list' -s o -l output -xa 'table wide json yaml name'
complete -c podvmctl -n '__fish_seen_subcommand_from list drain' -s l -l selector -x -d 'Label selector'
complete -c podvmctl -n '__fish_seen_subcommand_from show' -s o -l output -xa 'json yaml'
complete -c podvmctl -n '__fish_seen_subcommand_from events version' -s o -l output -xa 'text json yaml'
complete -c podvmctl -n '__fish_seen_subcommand_from version' -l client -d "Only podvmctl's version"
complete -c podvmctl -n '__fish_seen_subcommand_from volume; and __fish_seen_subcommand_from list' -s o -l output -xa 'table wide json yaml name'
complete -c podvmctl -n '__fish_seen_subcommand_from volume; and __fish_seen_subcommand_from show' -s o -l output -xa 'text json yaml'
complete -c podvmctl -n '__fish_seen_subcommand_from volume; and __fish_seen_subcommand_from create' -s s -l size -x
complete -c podvmctl -n '__fish_seen_subcommand_from volume; and __fish_seen_subcommand_from create' -l from -rF
complete -c podvmctl -n '__fish_seen_subcommand_from volume; and __fish_seen_subcommand_from create' -l sha256 -x
complete -c podvmctl -n '__fish_seen_subcommand_from image; and __fish_seen_subcommand_from list' -s o -l output -xa 'table wide json yaml'
complete -c podvmctl -n '__fish_seen_subcommand_from image; and __fish_seen_subcommand_from rm' -l force
complete -c podvmctl -n '__fish_seen_subcommand_from run' -l debug
complete -c podvmctl -n '__fish_seen_subcommand_from run' -s d -l detach
complete -c podvmctl -n '__fish_seen_subcommand_from run' -l dry-run
complete -c podvmctl -n '__fish_seen_subcommand_from run attach-disk attach-nic' -l name -x
complete -c podvmctl -n '__fish_seen_subcommand_from run attach-nic' -s p -l port -x
complete -c podvmctl -n '__fish_seen_subcommand_from run' -l memory -x
complete -c podvmctl -n '__fish_seen_subcommand_from run' -l cpus -x
complete -c podvmctl -n '__fish_seen_subcommand_from start' -l debug -d "Show the guest kernel's boot messages"
complete -c podvmctl -n '__fish_seen_subcommand_from stop' -l grace -x -d 'Seconds of grace'
complete -c podvmctl -n '__fish_seen_subcommand_from delete' -l force -d 'Delete even while QEMU runs'
complete -c podvmctl -n '__fish_seen_subcommand_from console' -l no-replay
complete -c podvmctl -n '__fish_seen_subcommand_from logs' -s f -l follow
complete -c podvmctl -n '__fish_seen_subcommand_from exec' -l app -x
complete -c podvmctl -n '__fish_seen_subcommand_from attach-disk' -l host-path -rF
complete -c podvmctl -n '__fish_seen_subcommand_from attach-disk' -l claim -xa '(__podvmctl_volumes)'
complete -c podvmctl -n '__fish_seen_subcommand_from attach-disk' -l empty-disk -x
complete -c podvmctl -n '__fish_seen_subcommand_from attach-disk' -l bus -xa 'virtio scsi sata'
complete -c podvmctl -n '__fish_seen_subcommand_from attach-disk' -l cdrom
complete -c podvmctl -n '__fish_seen_subcommand_from attach-disk' -l readonly
complete -c podvmctl -n '__fish_seen_subcommand_from attach-disk' -l serial -x
complete -c podvmctl -n '__fish_seen_subcommand_from attach-nic' -l binding -xa 'masquerade bridge slirp sriov passt'
complete -c podvmctl -n '__fish_seen_subcommand_from attach-nic' -l network -x
complete -c podvmctl -n '__fish_seen_subcommand_from attach-nic' -l multus -x
complete -c podvmctl -n '__fish_seen_subcommand_from attach-nic' -l mac -x
complete -c podvmctl -n '__fish_seen_subcommand_from attach-nic' -l model -x
complete -c podvmctl -n '__fish_seen_subcommand_from attach-nic migrate' -l dry-run
complete -c podvmctl -n '__fish_seen_subcommand_from migrate drain' -l to -x
complete -c podvmctl -n '__fish_seen_subcommand_from migrate drain' -l token-file -rF
complete -c podvmctl -n '__fish_seen_subcommand_from migrate drain' -l cacert -rF
complete -c podvmctl -n '__fish_seen_subcommand_from migrate drain' -l plaintext
complete -c podvmctl -n '__fish_seen_subcommand_from migrate drain' -l postcopy
complete -c podvmctl -n '__fish_seen_subcommand_from migrate drain' -l bandwidth -x
complete -c podvmctl -n '__fish_seen_subcommand_from migrate drain' -l max-downtime -x
complete -c podvmctl -n '__fish_seen_subcommand_from migrate drain' -l no-progress-timeout -x
complete -c podvmctl -n '__fish_seen_subcommand_from migrate' -l cancel
