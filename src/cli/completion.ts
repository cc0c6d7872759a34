/**
 * `watchbell completion bash|zsh`: a completion script made from the verb table, so it offers exactly the
 * verbs and flags the CLI takes. Job ids come from the daemon (`watchbell jobs --ids`) when it answers.
 */
import { UsageError } from './usage-error.js';
import { findVerb, VERBS, type Parsed } from './verbs.js';

/** Prints the script for the shell named. */
export async function runCompletion(args: Parsed): Promise<number> {
  const shell = args.positionals[0];
  if (shell === 'bash') process.stdout.write(bashScript());
  else if (shell === 'zsh') process.stdout.write(zshScript());
  else throw new UsageError(`no completion for ${JSON.stringify(shell)}; expected bash or zsh`, findVerb('completion'));
  return 0;
}

/** Words for `compgen -W`, quoted for a shell script (flag values such as `-created_at` are plain words). */
function words(list: readonly string[]): string {
  return `'${list.join(' ')}'`;
}

function bashFunction(): string {
  const verbs = [...VERBS.map((v) => v.name), 'version', 'help'];
  const flagCases: string[] = [];
  const valueCases: string[] = [];
  const positionalCases: string[] = [];
  for (const verb of VERBS) {
    const flags = Object.entries(verb.flags).flatMap(([name, f]) => (f.short ? [`--${name}`, `-${f.short}`] : [`--${name}`]));
    flagCases.push(`    ${verb.name}) flags=${words([...flags, '--help'])} ;;`);
    for (const [name, f] of Object.entries(verb.flags)) {
      if (f.type !== 'string') continue;
      const spellings = [`${verb.name}:--${name}`, ...(f.short ? [`${verb.name}:-${f.short}`] : [])].join('|');
      const action = f.completes === 'files' ? 'COMPREPLY=($(compgen -f -- "$cur"))' : f.completes ? `COMPREPLY=($(compgen -W ${words(f.completes)} -- "$cur"))` : 'COMPREPLY=()';
      valueCases.push(`    ${spellings}) ${action}; return ;;`);
    }
    const c = verb.completes;
    if (c === 'jobs') positionalCases.push(`    ${verb.name}) COMPREPLY=($(compgen -W "$(watchbell jobs --ids 2>/dev/null)" -- "$cur")) ;;`);
    else if (c === 'files') positionalCases.push(`    ${verb.name}) COMPREPLY=($(compgen -f -- "$cur")) ;;`);
    else if (c) positionalCases.push(`    ${verb.name}) COMPREPLY=($(compgen -W ${words(c)} -- "$cur")) ;;`);
  }
  return `_watchbell() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" verb="\${COMP_WORDS[1]}" flags=''
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W ${words(verbs)} -- "$cur"))
    return
  fi
  case "$verb:$prev" in
${valueCases.join('\n')}
  esac
  case "$verb" in
${flagCases.join('\n')}
    help) COMPREPLY=($(compgen -W ${words(VERBS.map((v) => v.name))} -- "$cur")); return ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    return
  fi
  case "$verb" in
${positionalCases.join('\n')}
  esac
}
`;
}

function bashScript(): string {
  return `# watchbell completion for bash; load it with: source <(watchbell completion bash)
${bashFunction()}complete -o default -F _watchbell watchbell
`;
}

/** zsh runs the bash function through its bashcompinit layer: one script to keep, the same answers. */
function zshScript(): string {
  return `# watchbell completion for zsh; load it with: source <(watchbell completion zsh)   (after compinit)
autoload -U +X compinit && { (( $+functions[compdef] )) || compinit }
autoload -U +X bashcompinit && bashcompinit
${bashFunction()}complete -o default -F _watchbell watchbell
`;
}
