# bash completion for vnetctl: command names, options, and network names from the daemon.
# Installed as /usr/share/bash-completion/completions/vnetctl; for a checkout:
#   source client/vnetctl/completion.bash

_vnetctl_commands="net-autostart net-create net-define net-destroy net-dhcp-leases net-dumpxml net-edit net-event net-info net-list net-name net-start net-undefine net-update net-uuid net-wait-lease help"

_vnetctl() {
    local cur cmd i
    cur="${COMP_WORDS[COMP_CWORD]}"
    cmd=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            -*) ;;
            *) cmd="${COMP_WORDS[i]}"; break ;;
        esac
    done

    if [[ -z "$cmd" ]]; then
        COMPREPLY=($(compgen -W "$_vnetctl_commands -q --quiet --help --version" -- "$cur"))
        return
    fi

    if [[ "$cur" == -* ]]; then
        local opts
        case "$cmd" in
            net-list) opts="--all --inactive --persistent --transient --autostart --no-autostart --name --uuid --table --json" ;;
            net-autostart) opts="--disable" ;;
            net-dumpxml) opts="--inactive --json" ;;
            net-event) opts="--event --loop --timeout --list --timestamp --json" ;;
            net-info|net-name|net-uuid) opts="--json" ;;
            net-dhcp-leases) opts="--mac --json" ;;
            net-update) opts="--parent-index --live --config --current" ;;
            net-wait-lease) opts="--mac --timeout --json" ;;
            *) opts="" ;;
        esac
        COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
        return
    fi

    case "$cmd" in
        help)
            COMPREPLY=($(compgen -W "$_vnetctl_commands" -- "$cur")) ;;
        net-define|net-create)
            COMPREPLY=($(compgen -f -- "$cur")) ;;
        net-event)
            if [[ "${COMP_WORDS[COMP_CWORD-1]}" == "--event" ]]; then
                COMPREPLY=($(compgen -W "lifecycle" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(vnetctl -q net-list --all --name 2>/dev/null)" -- "$cur"))
            fi ;;
        net-update)
            # NETWORK COMMAND SECTION XML: which one is being typed?
            local n=0
            for ((i = i + 1; i < COMP_CWORD; i++)); do
                [[ "${COMP_WORDS[i]}" == -* || "${COMP_WORDS[i-1]}" == "--parent-index" ]] || ((n++))
            done
            case $n in
                0) COMPREPLY=($(compgen -W "$(vnetctl -q net-list --all --name 2>/dev/null)" -- "$cur")) ;;
                1) COMPREPLY=($(compgen -W "add add-first add-last delete modify" -- "$cur")) ;;
                2) COMPREPLY=($(compgen -W "ip-dhcp-host ip-dhcp-range dns-host dns-txt dns-srv forward-interface portgroup bridge domain ip forward forward-pf" -- "$cur")) ;;
                *) COMPREPLY=($(compgen -f -- "$cur")) ;;
            esac ;;
        net-start)
            COMPREPLY=($(compgen -W "$(vnetctl -q net-list --inactive --name 2>/dev/null)" -- "$cur")) ;;
        net-destroy)
            COMPREPLY=($(compgen -W "$(vnetctl -q net-list --name 2>/dev/null)" -- "$cur")) ;;
        net-name)
            COMPREPLY=($(compgen -W "$(vnetctl -q net-list --all --uuid 2>/dev/null)" -- "$cur")) ;;
        *)
            COMPREPLY=($(compgen -W "$(vnetctl -q net-list --all --name 2>/dev/null)" -- "$cur")) ;;
    esac
}

complete -F _vnetctl vnetctl
