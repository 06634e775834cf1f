#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""TAP: the man pages say what the programs do, so they cannot drift apart.

- every podvmctl command (podvmctl --help) and every subcommand of volume and
  image has an entry in podvmctl(1), and every option its --help lists is in
  that entry; podvmctl's global options are in the page;
- every podvmd option (podvmd --help) is in podvmd(8);
- every group and key of data/podvmd.conf is in podvmd.conf(5), and every
  section of docs/pod-format.md in podvm-spec(5) (both are generated);
- man --warnings (groff's warnings) finds nothing in the built pages.

Usage: check-man.py SOURCE-ROOT MAN-BUILD-DIR PODVMCTL PODVMD
"""
import os
import re
import shutil
import subprocess
import sys

top, man_dir, podvmctl, podvmd = sys.argv[1:5]
results = []


def check(ok, name, diagnostics=()):
    results.append((ok, name, list(diagnostics)))


def skip(name, reason):
    results.append((None, name, [reason]))


def run(argv):
    env = dict(os.environ, LC_ALL='C.UTF-8', LANG='C.UTF-8', LANGUAGE='')
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30)
    return done.stdout + done.stderr


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def help_options(text):
    """The options a GOption --help lists, as '-x' and '--name', without --help."""
    options = []
    for line in text.split('\n'):
        m = re.match(r'^\s+(?:(-[A-Za-z]), )?(--[a-z0-9][a-z0-9-]*)', line)
        if m and m.group(2) != '--help':
            if m.group(1):
                options.append(m.group(1))
            options.append(m.group(2))
    return options


WORD = r'[a-z][a-z0-9-]*(?: \([^)]*\))?'
CHOICES = re.compile(r'(?<![\w.-])((?:' + WORD + r', )*' + WORD + r' or ' + WORD + r')')


def help_choices(text):
    """{option: [value...]} for the options whose --help text lists the values
    they take ('table (default), json or name', 'virtio, scsi or sata')."""
    choices = {}
    for line in text.split('\n'):
        m = re.match(r'^\s+(?:-[A-Za-z], )?(--[a-z0-9][a-z0-9-]*)(?:=\S+)?\s+(.*)$', line)
        if not m:
            continue
        for found in CHOICES.finditer(m.group(2)):
            words = re.split(r', | or ', re.sub(r' \([^)]*\)', '', found.group(1)))
            choices.setdefault(m.group(1), []).extend(words)
    return choices


def help_list(text, heading):
    """The first words of the lines of a section of --help (Commands:, Subcommands:)."""
    names = []
    inside = False
    for line in text.split('\n'):
        if line.strip() == heading:
            inside = True
            continue
        if inside:
            m = re.match(r'^  ([a-z][a-z-]*)\b', line)
            if m:
                names.append(m.group(1))
            elif line.strip() == '' and names:
                break
    return names


def entries(scd):
    """podvmctl(1)'s command entries: '*name*' or '*name sub*' at the start of a
    line, up to the next entry or section; a name given twice is one entry."""
    blocks = {}
    current = None
    inside = False
    for line in scd.split('\n'):
        if line.startswith('# '):
            inside = line == '# COMMANDS'
            current = None
            continue
        if not inside:
            continue
        m = re.match(r'^\*([a-z][a-z-]*(?: [a-z][a-z-]*)?)\*', line)
        if m:
            current = m.group(1)
            blocks.setdefault(current, '')
        elif line.startswith('## '):
            current = None
        if current is not None:
            blocks[current] += line + '\n'
    return blocks


def mentions(block, option):
    # *-f*, *--filename*=_FILE_, or the option in running text
    return re.search(r'(?<![\w-])' + re.escape(option) + r'(?![\w-])', block) is not None


# ---- podvmctl(1) ---------------------------------------------------------------
ctl_scd = read(os.path.join(top, 'man', 'podvmctl.1.scd'))
blocks = entries(ctl_scd)
main_help = run([podvmctl, '--help'])
commands = help_list(main_help, 'Commands:')
check(len(commands) > 10, 'podvmctl --help lists its commands', [main_help[:500]])
missing_commands = []
missing_options = []
for command in commands:
    command_help = run([podvmctl, 'help', command])
    subcommands = help_list(command_help, 'Subcommands:')
    if subcommands:
        names = [(command + ' ' + sub, run([podvmctl, command, sub, '--help']))
                 for sub in subcommands]
    else:
        names = [(command, command_help)]
    for name, text in names:
        if name not in blocks:
            missing_commands.append(name)
            continue
        for option in help_options(text):
            if not mentions(blocks[name], option):
                missing_options.append('%s %s' % (name, option))
        for option, values in help_choices(text).items():
            for value in values:
                if not mentions(blocks[name], value):
                    missing_options.append('%s %s %s' % (name, option, value))
check(not missing_commands, 'every podvmctl command has an entry in podvmctl(1)',
      ['missing: ' + name for name in missing_commands])
check(not missing_options,
      'every option of every podvmctl command, and every value its --help lists, is in its entry',
      ['missing: podvmctl ' + option for option in missing_options])
global_missing = [o for o in help_options(main_help) if not mentions(ctl_scd, o)]
check(not global_missing, "podvmctl's global options are in podvmctl(1)",
      ['missing: ' + o for o in global_missing])
unknown = [name for name in blocks if name.split(' ')[0] not in commands]
check(not unknown, 'podvmctl(1) documents no command podvmctl lacks',
      ['not a command: ' + name for name in unknown])

# ---- podvmd(8) -----------------------------------------------------------------
podvmd_scd = read(os.path.join(top, 'man', 'podvmd.8.scd'))
podvmd_missing = [o for o in help_options(run([podvmd, '--help'])) if not mentions(podvmd_scd, o)]
check(not podvmd_missing, 'every podvmd option is in podvmd(8)',
      ['missing: ' + o for o in podvmd_missing])

# ---- podvmd.conf against the keys podvmd knows -----------------------------------
# podvmd.conf(5) is made from data/podvmd.conf; that file must name exactly
# the groups and keys of podvmd's table (src/daemon/podvm-config-keys.c).
keys_c = os.path.join(top, 'src', 'daemon', 'podvm-config-keys.c')
conf_text = read(os.path.join(top, 'data', 'podvmd.conf'))
if not os.path.exists(keys_c):
    skip('data/podvmd.conf names every key podvmd knows, and no other',
         'podvmd has no table of its keys (src/daemon/podvm-config-keys.c)')
else:
    known = set((g.strip(), k) for g, k in
                re.findall(r'\{\s*"([a-z-]+ ?)",\s*"([a-z0-9_]+)"', read(keys_c)))
    documented = set()
    group = None
    for line in conf_text.split('\n'):
        m = re.match(r'^#?\[([a-z-]+)(?: [^\]]+)?\]$', line)
        if m:
            group = m.group(1)
            continue
        m = re.match(r'^#?([a-z][a-z0-9_]*)=', line)
        if m and group is not None:
            documented.add((group, m.group(1)))
    check(len(known) > 20 and known == documented,
          'data/podvmd.conf names every key podvmd knows, and no other',
          ['not in data/podvmd.conf: [%s] %s' % k for k in sorted(known - documented)] +
          ['not a key podvmd knows: [%s] %s' % k for k in sorted(documented - known)])

# ---- the generated pages -------------------------------------------------------
built = {page: os.path.join(man_dir, page)
         for page in ('podvmd.8', 'podvmctl.1', 'podvmd.conf.5', 'podvm-spec.5')}
if not all(os.path.exists(path) for path in built.values()):
    skip('podvmd.conf(5) has every group and key of podvmd.conf',
         'the man pages are not built (scdoc is missing: apt-get install scdoc)')
    skip('podvm-spec(5) has every section of docs/pod-format.md', 'the man pages are not built')
    skip('man --warnings finds nothing in the pages', 'the man pages are not built')
else:
    conf_scd = read(os.path.join(man_dir, 'podvmd.conf.5.scd'))
    conf_missing = []
    group = None
    sections = {}
    for line in conf_scd.split('\n'):
        m = re.match(r'^## \[(.*)\]$', line)
        if m:
            group = m.group(1).replace('\\', '')
            sections[group] = ''
        elif group is not None:
            sections[group] += line.replace('\\', '') + '\n'
    for line in read(os.path.join(top, 'data', 'podvmd.conf')).split('\n'):
        m = re.match(r'^#?\[([^\]]+)\]$', line)
        if m:
            group = m.group(1)
            if group not in sections:
                conf_missing.append('[%s]' % group)
            continue
        m = re.match(r'^#?([a-z][a-z0-9_]*)=', line)
        if m and group is not None and not re.search(
                r'^\*' + re.escape(m.group(1)) + r'\*=', sections.get(group, ''), re.M):
            conf_missing.append('[%s] %s' % (group, m.group(1)))
    check(not conf_missing, 'podvmd.conf(5) has every group and key of podvmd.conf',
          ['missing: ' + k for k in conf_missing])

    def plain(text):
        return re.sub(r'[`*_\\]', '', text)

    spec_text = plain(read(os.path.join(man_dir, 'podvm-spec.5.scd')))
    spec_missing = []
    for line in read(os.path.join(top, 'docs', 'pod-format.md')).split('\n'):
        m = re.match(r'^#{2,3} (.*)$', line)
        if m:
            words = plain(m.group(1))
            if words.upper() not in spec_text and words not in spec_text:
                spec_missing.append(words)
    check(not spec_missing, 'podvm-spec(5) has every section of docs/pod-format.md',
          ['missing: ' + s for s in spec_missing])

    if shutil.which('man') is None:
        skip('man --warnings finds nothing in the pages', 'man-db is not installed')
    else:
        warnings = []
        for page, path in sorted(built.items()):
            env = dict(os.environ, LC_ALL='C.UTF-8', MANWIDTH='80', MAN_KEEP_FORMATTING='0')
            done = subprocess.run(['man', '--warnings', '-l', path], capture_output=True,
                                  text=True, env=env, timeout=60)
            warnings += ['%s: %s' % (page, l) for l in done.stderr.split('\n') if l.strip()]
            if done.returncode != 0 or not done.stdout.strip():
                warnings.append('%s: man exited %d with no page' % (page, done.returncode))
        check(not warnings, 'man --warnings finds nothing in the pages', warnings)

print('1..%d' % len(results))
failed = 0
for number, (ok, name, diagnostics) in enumerate(results, 1):
    if ok is None:
        print('ok %d # SKIP %s: %s' % (number, name, diagnostics[0]))
        continue
    if not ok:
        for line in '\n'.join(diagnostics).split('\n'):
            print('# ' + line)
    print('%s %d %s' % ('ok' if ok else 'not ok', number, name))
    failed += 0 if ok else 1
sys.exit(1 if failed else 0)
