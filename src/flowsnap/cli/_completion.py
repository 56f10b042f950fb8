"""``flowsnap completion bash|zsh``: shell completion scripts, generated from the parser."""

from __future__ import annotations

import argparse

_BASH = """\
# flowsnap completion for bash: eval "$(flowsnap completion bash)"
_flowsnap() {
    local cur prev words cword
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    local commands="%(commands)s"
    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
        return
    fi
    case "$prev" in
        --to|--from) COMPREPLY=($(compgen -W "%(formats)s" -- "$cur")); return ;;
        --dtype) COMPREPLY=($(compgen -W "%(casts)s" -- "$cur")); return ;;
        completion) COMPREPLY=($(compgen -W "bash zsh" -- "$cur")); return ;;
    esac
    case "${COMP_WORDS[1]}" in
%(cases)s
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -o filenames -F _flowsnap flowsnap
"""

_ZSH = """\
#compdef flowsnap
# flowsnap completion for zsh: eval "$(flowsnap completion zsh)"
autoload -U bashcompinit && bashcompinit
%(bash)s"""


def _options(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        name: sorted(o for a in p._actions for o in a.option_strings)
        for name, p in sub.choices.items()
    }


def script(
    shell: str, parser: argparse.ArgumentParser, formats: list[str], casts: list[str]
) -> str:
    """The completion script for ``shell``."""
    options = _options(parser)
    cases = "\n".join(
        f'        {name}) opts="{" ".join(opts)}" ;;' for name, opts in options.items()
    )
    bash = _BASH % {
        "commands": " ".join(options),
        "formats": " ".join(formats),
        "casts": " ".join(casts),
        "cases": cases,
    }
    return bash if shell == "bash" else _ZSH % {"bash": bash}
