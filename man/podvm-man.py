#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes the scdoc source of a man page that has its text elsewhere, so
that the text has one copy only:

  podvm-man.py conf PODVMD.CONF FRAME.SCD OUT   podvmd.conf(5): every group
      and key of the installed podvmd.conf with its comments
  podvm-man.py md POD-FORMAT.MD FRAME.SCD OUT   podvm-spec(5): docs/pod-format.md
      (Markdown) turned into scdoc

FRAME.SCD is the rest of the page, with a line {{BODY}} where that goes.
"""
import re
import sys


def escape(text):
    """Plain text for scdoc: its markup characters taken literally."""
    return re.sub(r'([\\*_])', r'\\\1', text)


# ---- podvmd.conf -------------------------------------------------------------

GROUP = re.compile(r'^#?\[([a-z][a-z0-9-]*(?: [^\]]+)?)\]$')
KEY = re.compile(r'^#?([a-z][a-z0-9_]*)=(.*)$')


def conf_entries(lines):
    """[(group, group_text, [(keys, text)])] in the file's order; keys is
    [(key, value)] sharing one description (comment lines before them)."""
    groups = []
    pending = []
    for line in lines:
        line = line.rstrip('\n')
        m = GROUP.match(line)
        if m:
            groups.append((m.group(1), pending, []))
            pending = []
            continue
        if not groups:
            continue  # the file's own header
        m = KEY.match(line)
        if m:
            entries = groups[-1][2]
            if pending or not entries:
                entries.append(([], pending))
                pending = []
            entries[-1][0].append((m.group(1), m.group(2)))
            continue
        if line.startswith('# '):
            pending.append(line[2:])
        elif line == '#':
            pending.append('')
        elif line.strip() == '':
            continue
        else:
            sys.exit('podvm-man.py: cannot read this line of podvmd.conf: ' + line)
    return groups


def paragraphs(text_lines, indent):
    out = []
    for line in text_lines:
        out.append(indent + escape(line) if line else '')
    return out


def conf_to_scdoc(lines):
    out = []
    for group, text, entries in conf_entries(lines):
        out += ['', '## [' + escape(group) + ']', '']
        if text:
            out += paragraphs(text, '') + ['']
        for keys, key_text in entries:
            terms = ['*' + escape(k) + '*=' + escape(v) for k, v in keys]
            out.append(' ++\n'.join(terms))
            if key_text:
                out += paragraphs(key_text, '\t')
            out.append('')
    return out


# ---- Markdown ----------------------------------------------------------------

INLINE = re.compile(r'(`+)(.+?)\1|\*\*(.+?)\*\*|\*([^*\s][^*]*?)\*|\[([^\]]+)\]\(([^)]+)\)')


def inline(text):
    """Markdown inline markup to scdoc: code and bold bold, emphasis underlined,
    links their text (with the address when it leaves the document)."""
    out = []
    pos = 0
    for m in INLINE.finditer(text):
        out.append(escape(text[pos:m.start()]))
        if m.group(1):
            out.append('*' + escape(m.group(2).strip()) + '*')
        elif m.group(3):
            out.append('*' + inline(m.group(3)).replace('*', '') + '*')
        elif m.group(4):
            out.append('_' + inline(m.group(4)) + '_')
        else:
            label, target = m.group(5), m.group(6)
            out.append(inline(label))
            if re.match(r'https?://', target):
                out.append(' (' + escape(target) + ')')
        pos = m.end()
    out.append(escape(text[pos:]))
    return ''.join(out)


def table_cells(line):
    line = line.strip()
    if line.startswith('|'):
        line = line[1:]
    if line.endswith('|') and not line.endswith('\\|'):
        line = line[:-1]
    cells = re.split(r'(?<!\\)\|', line)
    return [c.strip().replace('\\|', '|') for c in cells]


def md_table(rows):
    header = table_cells(rows[0])
    body = [table_cells(r) for r in rows[2:]]
    out = []
    if len(header) == 2:
        # field | meaning: a list of terms, as man pages show options
        for cells in body:
            out.append(inline(cells[0]) if cells[0] else '\\-')
            out.append('\t' + inline(cells[1]))
            out.append('')
        return out
    out.append('[[ ' + inline(header[0]))
    out += [':[ ' + inline(h) for h in header[1:]]
    for cells in body:
        cells += [''] * (len(header) - len(cells))
        out.append('|[ ' + inline(cells[0]))
        out += [':[ ' + inline(c) for c in cells[1:len(header)]]
    out.append('')
    return out


LIST_ITEM = re.compile(r'^( *)(- |\d+\. )(.*)$')


def starts_block(lines, i):
    line = lines[i]
    return (line.startswith('```') or re.match(r'^#{1,4} ', line) is not None or
            line.startswith('|') or LIST_ITEM.match(line) is not None)


def md_to_scdoc(lines):
    out = []
    i = 0
    lines = [l.rstrip('\n') for l in lines]
    # The title is the page's NAME (in the head); the text starts after it.
    if lines and lines[0].startswith('# '):
        i = 1
    while i < len(lines):
        line = lines[i]
        if line.startswith('```'):
            out.append('```')
            i += 1
            while i < len(lines) and not lines[i].startswith('```'):
                out.append(lines[i].replace('\\', '\\\\'))
                i += 1
            out.append('```')
            i += 1
            continue
        m = re.match(r'^(#{2,4}) (.*)$', line)
        if m:
            level = len(m.group(1))
            title = inline(m.group(2))
            out += ['', ('# ' + title.upper()) if level == 2 else ('## ' + title), '']
            i += 1
            continue
        if line.startswith('|') and i + 1 < len(lines) and re.match(r'^\|[-:| ]+\|$', lines[i + 1]):
            rows = []
            while i < len(lines) and lines[i].startswith('|'):
                rows.append(lines[i])
                i += 1
            out += [''] + md_table(rows)
            continue
        m = LIST_ITEM.match(line)
        if m:
            # An item and its continuation lines, as one line.
            text = [m.group(3)]
            i += 1
            while i < len(lines) and lines[i].startswith(' ' * (len(m.group(1)) + 2)) \
                    and lines[i].strip() and not LIST_ITEM.match(lines[i]):
                text.append(lines[i].strip())
                i += 1
            mark = '- ' if m.group(2) == '- ' else '. '
            out.append(m.group(1) + mark + inline(' '.join(text)))
            continue
        if line.strip() == '':
            out.append('')
            i += 1
            continue
        # A paragraph, as one line (inline markup may span its lines).
        text = []
        while i < len(lines) and lines[i].strip() and not starts_block(lines, i):
            text.append(lines[i].strip())
            i += 1
        text = inline(' '.join(text))
        # It must not start with what scdoc reads as markup.
        if text[:1] in ('-', '.', '|', ':', '[', ';', '#', '\t'):
            text = '\\' + text
        out.append(text)
    return out


def main():
    mode, source, frame, output = sys.argv[1:5]
    with open(source, encoding='utf-8') as f:
        lines = f.readlines()
    with open(frame, encoding='utf-8') as f:
        before, after = f.read().split('\n{{BODY}}\n')
    body = conf_to_scdoc(lines) if mode == 'conf' else md_to_scdoc(lines)
    text = before.split('\n') + [''] + body + [''] + after.split('\n')
    # scdoc wants one blank line between blocks, not several.
    result = re.sub(r'\n{3,}', '\n\n', '\n'.join(text).strip('\n') + '\n')
    with open(output, 'w', encoding='utf-8') as f:
        f.write(result)


if __name__ == '__main__':
    main()
