# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_passbyme_global_optspecs
    string join \n c/config= h/help V/version
end

function __fish_passbyme_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_passbyme_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_passbyme_using_subcommand
    set -l cmd (__fish_passbyme_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c passbyme -n "__fish_passbyme_needs_command" -s c -l config -d 'The configuration file (the one the PAM module reads)' -r -F
complete -c passbyme -n "__fish_passbyme_needs_command" -s h -l help -d 'Print help'
complete -c passbyme -n "__fish_passbyme_needs_command" -s V -l version -d 'Print version'
complete -c passbyme -n "__fish_passbyme_needs_command" -f -a "check" -d 'Check the configuration exactly as the module reads it (files, TOML, credentials), and with --sshd / --sudo the sshd and sudo setups around the module. Exit status 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (monitoring-plugin convention)'
complete -c passbyme -n "__fish_passbyme_needs_command" -f -a "send" -d 'Send a message, like the SDK\'s send_message'
complete -c passbyme -n "__fish_passbyme_needs_command" -f -a "track" -d 'Show a message\'s status (track in the SDK)'
complete -c passbyme -n "__fish_passbyme_needs_command" -f -a "cancel" -d 'Cancel a message'
complete -c passbyme -n "__fish_passbyme_needs_command" -f -a "login" -d 'Run the module\'s whole login flow for USER without PAM, showing progress'
complete -c passbyme -n "__fish_passbyme_needs_command" -f -a "status" -d 'Show the push-fatigue limiter\'s state: pushes in the window, denials, lockout, pending push, grace entries (all users, or one)'
complete -c passbyme -n "__fish_passbyme_needs_command" -f -a "unlock" -d 'Clear a user\'s limiter state (lockout, counters, grace), like faillock --reset'
complete -c passbyme -n "__fish_passbyme_needs_command" -f -a "emulator" -d 'Run a local PassBy[ME] emulator (mutual TLS) that plays the phone'
complete -c passbyme -n "__fish_passbyme_needs_command" -f -a "demo" -d 'A real login through real Linux-PAM and the built module, against an emulator started for it; you play the phone'
complete -c passbyme -n "__fish_passbyme_needs_command" -f -a "report" -d 'Count the module\'s decisions for a time window (from the journal, or a syslog file with --file) per user and per source, with the approval latency, and raise alerts: push fatigue in progress, any fail-open, users audit mode would refuse. Exit status 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (monitoring-plugin convention)'
complete -c passbyme -n "__fish_passbyme_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c passbyme -n "__fish_passbyme_using_subcommand check" -l user -d 'Only show how this user is mapped: the canonical name, the IDs and where they come from (file and line, template or GECOS), or why the user is unmapped' -r
complete -c passbyme -n "__fish_passbyme_using_subcommand check" -l sshd-config -d 'Check this sshd configuration file instead of the installed one (`sshd -T -f FILE`), before installing it. Implies --sshd' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand check" -l sshd-match -d 'Judge this one connection (`sshd -T -C SPEC`), e.g. `user=alice,host=example.net,addr=192.0.2.7`, instead of the global configuration and each Match block; with --census, the connection every account is judged for (its `user=` replaced)' -r
complete -c passbyme -n "__fish_passbyme_using_subcommand check" -l sshd-binary -d 'The sshd program' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand check" -l sudo-binary -d 'The sudo program, asked which PAM services it uses (`sudo -V`, as root)' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand check" -l sudoers -d 'The sudoers file (with its includes), read through `cvtsudoers`' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand check" -l pam-dir -d 'Where the PAM service files are (`sshd`, `sudo` and what they include)' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand check" -s c -l config -d 'The configuration file (the one the PAM module reads)' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand check" -l connect -d 'Also reach the service over mutual TLS'
complete -c passbyme -n "__fish_passbyme_using_subcommand check" -l sshd -d 'Check sshd: its effective configuration (`sshd -T`) and the `sshd` PAM service'
complete -c passbyme -n "__fish_passbyme_using_subcommand check" -l census -d 'Also judge every account that can log in over SSH (a login shell, or named in the configuration): gets the push, skips it (why), or is LOCKED OUT (why, and the fix). Implies --sshd. Run it as root (it reads shadow and every authorized_keys)'
complete -c passbyme -n "__fish_passbyme_using_subcommand check" -l sudo -d 'Check sudo: every PAM service it uses (`sudo -V`: `sudo`, and `sudo-i` for `sudo -i`) and sudoers (who runs what without authenticating, the credential cache)'
complete -c passbyme -n "__fish_passbyme_using_subcommand check" -l su -d 'Check su: the `su` PAM service and `su-l` (util-linux su uses it for `su -` and `su -l`); both must carry the push'
complete -c passbyme -n "__fish_passbyme_using_subcommand check" -l third-factor -d 'The password asked in sshd\'s PAM stack on top of a first factor from AuthenticationMethods (publickey) is meant: three factors, no warning'
complete -c passbyme -n "__fish_passbyme_using_subcommand check" -l ssh-clients-show-info -d 'Every SSH client that logs in shows keyboard-interactive messages that come without a prompt (OpenSSH\'s ssh does): prompt=info then fits an sshd of OpenSSH 10.3 or later, with no warning'
complete -c passbyme -n "__fish_passbyme_using_subcommand check" -l push-only-sudo -d 'sudo with the push alone (no password) is meant: no CRITICAL for it'
complete -c passbyme -n "__fish_passbyme_using_subcommand check" -l json -d 'Print the findings as one JSON document instead of text'
complete -c passbyme -n "__fish_passbyme_using_subcommand check" -s h -l help -d 'Print help'
complete -c passbyme -n "__fish_passbyme_using_subcommand send" -l to -d 'Recipient PassBy[ME] ID (repeat for several)' -r
complete -c passbyme -n "__fish_passbyme_using_subcommand send" -l type -d 'authorization (the phone offers Approve and Deny), message or esign' -r
complete -c passbyme -n "__fish_passbyme_using_subcommand send" -l subject -d 'Subject line' -r
complete -c passbyme -n "__fish_passbyme_using_subcommand send" -l body -d 'Body text' -r
complete -c passbyme -n "__fish_passbyme_using_subcommand send" -l availability -d 'Seconds the message may be downloaded' -r
complete -c passbyme -n "__fish_passbyme_using_subcommand send" -s c -l config -d 'The configuration file (the one the PAM module reads)' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand send" -l wait -d 'Track the message until every recipient\'s status is final (cancel on Ctrl-C)'
complete -c passbyme -n "__fish_passbyme_using_subcommand send" -l json -d 'Print the session as JSON'
complete -c passbyme -n "__fish_passbyme_using_subcommand send" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c passbyme -n "__fish_passbyme_using_subcommand track" -s c -l config -d 'The configuration file (the one the PAM module reads)' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand track" -l json -d 'Print the session as JSON'
complete -c passbyme -n "__fish_passbyme_using_subcommand track" -s h -l help -d 'Print help'
complete -c passbyme -n "__fish_passbyme_using_subcommand cancel" -s c -l config -d 'The configuration file (the one the PAM module reads)' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand cancel" -l json -d 'Print the session as JSON'
complete -c passbyme -n "__fish_passbyme_using_subcommand cancel" -s h -l help -d 'Print help'
complete -c passbyme -n "__fish_passbyme_using_subcommand login" -l service -d 'The service name the message mentions' -r
complete -c passbyme -n "__fish_passbyme_using_subcommand login" -l rhost -d 'The remote host the message mentions (none: a local login, policy.local applies)' -r
complete -c passbyme -n "__fish_passbyme_using_subcommand login" -s c -l config -d 'The configuration file (the one the PAM module reads)' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand login" -s h -l help -d 'Print help'
complete -c passbyme -n "__fish_passbyme_using_subcommand status" -s c -l config -d 'The configuration file (the one the PAM module reads)' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand status" -s h -l help -d 'Print help'
complete -c passbyme -n "__fish_passbyme_using_subcommand unlock" -s c -l config -d 'The configuration file (the one the PAM module reads)' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand unlock" -s h -l help -d 'Print help'
complete -c passbyme -n "__fish_passbyme_using_subcommand emulator" -l listen -d 'HTTPS address to listen on (port 0: any free port)' -r
complete -c passbyme -n "__fish_passbyme_using_subcommand emulator" -l state-dir -d 'Directory for the CA, certificates, client credentials and passbyme.toml (created 0700; reused on restart)' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand emulator" -l answer -d 'What the phone answers for recipients without a scenario tag' -r -f -a "approve\t'Approve after the delay'
deny\t'Deny after the delay'
ignore\t'Never answer: the message expires'"
complete -c passbyme -n "__fish_passbyme_using_subcommand emulator" -l after -d 'When the phone answers: a duration (500ms, 0.5s, 3s, 2m) or a range MIN..MAX drawn per message' -r
complete -c passbyme -n "__fish_passbyme_using_subcommand emulator" -l admin -d 'Plain-HTTP admin endpoint (loopback addresses only; default: none)' -r
complete -c passbyme -n "__fish_passbyme_using_subcommand emulator" -s c -l config -d 'The configuration file (the one the PAM module reads)' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand emulator" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c passbyme -n "__fish_passbyme_using_subcommand demo" -l answer -d 'Who answers on the phone: ask (you, at this terminal), approve or deny' -r -f -a "ask\t''
approve\t''
deny\t''"
complete -c passbyme -n "__fish_passbyme_using_subcommand demo" -l module -d 'The module to load (default: libpam_passbyme.so next to this program, then the installed pam_passbyme.so)' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand demo" -l state-dir -d 'Where the emulator keeps its CA, certificates and config (default: a new temporary directory)' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand demo" -s c -l config -d 'The configuration file (the one the PAM module reads)' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand demo" -s h -l help -d 'Print help'
complete -c passbyme -n "__fish_passbyme_using_subcommand report" -l file -d 'Read this syslog file (e.g. /var/log/auth.log; `-` for standard input) instead of the journal' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand report" -l journal-json -d 'Read entries saved with `journalctl -o json` from this file (`-` for standard input) instead of running journalctl' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand report" -l since -d 'Start of the window: an age (`30m`, `24h`, `7d`), a date (`2026-11-02`, UTC) or a time (`2026-11-02T08:00:00Z`, `2026-11-02T10:00:00+02:00`)' -r
complete -c passbyme -n "__fish_passbyme_using_subcommand report" -l until -d 'End of the window, in the same forms (default: now)' -r
complete -c passbyme -n "__fish_passbyme_using_subcommand report" -l burst -d 'Push fatigue: this many denied, unanswered, abandoned or rate-limited logins of one user within --burst-window raise a CRITICAL alert' -r
complete -c passbyme -n "__fish_passbyme_using_subcommand report" -l burst-window -d 'The window of --burst' -r
complete -c passbyme -n "__fish_passbyme_using_subcommand report" -s c -l config -d 'The configuration file (the one the PAM module reads)' -r -F
complete -c passbyme -n "__fish_passbyme_using_subcommand report" -l json -d 'Print the report as one JSON document instead of text'
complete -c passbyme -n "__fish_passbyme_using_subcommand report" -s h -l help -d 'Print help'
complete -c passbyme -n "__fish_passbyme_using_subcommand help; and not __fish_seen_subcommand_from check send track cancel login status unlock emulator demo report help" -f -a "check" -d 'Check the configuration exactly as the module reads it (files, TOML, credentials), and with --sshd / --sudo the sshd and sudo setups around the module. Exit status 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (monitoring-plugin convention)'
complete -c passbyme -n "__fish_passbyme_using_subcommand help; and not __fish_seen_subcommand_from check send track cancel login status unlock emulator demo report help" -f -a "send" -d 'Send a message, like the SDK\'s send_message'
complete -c passbyme -n "__fish_passbyme_using_subcommand help; and not __fish_seen_subcommand_from check send track cancel login status unlock emulator demo report help" -f -a "track" -d 'Show a message\'s status (track in the SDK)'
complete -c passbyme -n "__fish_passbyme_using_subcommand help; and not __fish_seen_subcommand_from check send track cancel login status unlock emulator demo report help" -f -a "cancel" -d 'Cancel a message'
complete -c passbyme -n "__fish_passbyme_using_subcommand help; and not __fish_seen_subcommand_from check send track cancel login status unlock emulator demo report help" -f -a "login" -d 'Run the module\'s whole login flow for USER without PAM, showing progress'
complete -c passbyme -n "__fish_passbyme_using_subcommand help; and not __fish_seen_subcommand_from check send track cancel login status unlock emulator demo report help" -f -a "status" -d 'Show the push-fatigue limiter\'s state: pushes in the window, denials, lockout, pending push, grace entries (all users, or one)'
complete -c passbyme -n "__fish_passbyme_using_subcommand help; and not __fish_seen_subcommand_from check send track cancel login status unlock emulator demo report help" -f -a "unlock" -d 'Clear a user\'s limiter state (lockout, counters, grace), like faillock --reset'
complete -c passbyme -n "__fish_passbyme_using_subcommand help; and not __fish_seen_subcommand_from check send track cancel login status unlock emulator demo report help" -f -a "emulator" -d 'Run a local PassBy[ME] emulator (mutual TLS) that plays the phone'
complete -c passbyme -n "__fish_passbyme_using_subcommand help; and not __fish_seen_subcommand_from check send track cancel login status unlock emulator demo report help" -f -a "demo" -d 'A real login through real Linux-PAM and the built module, against an emulator started for it; you play the phone'
complete -c passbyme -n "__fish_passbyme_using_subcommand help; and not __fish_seen_subcommand_from check send track cancel login status unlock emulator demo report help" -f -a "report" -d 'Count the module\'s decisions for a time window (from the journal, or a syslog file with --file) per user and per source, with the approval latency, and raise alerts: push fatigue in progress, any fail-open, users audit mode would refuse. Exit status 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (monitoring-plugin convention)'
complete -c passbyme -n "__fish_passbyme_using_subcommand help; and not __fish_seen_subcommand_from check send track cancel login status unlock emulator demo report help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
