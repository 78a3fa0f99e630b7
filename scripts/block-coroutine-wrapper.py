#!/usr/bin/env python3
#
# Generate the synchronous wrappers of the block layer.
#
# A header declares a wrapper with one of two markers in place of a
# function attribute:
#
#     int co_wrapper bdrv_check(BlockDriverState *bs, ...);
#     int co_wrapper_mixed bdrv_pread(BdrvChild *child, ...);
#
# For a wrapper named PREFIX_NAME the coroutine version PREFIX_co_NAME,
# with the same parameters and return type, must be declared too.  Each
# wrapper becomes: a struct holding the arguments and the result, a
# coroutine entry that calls the coroutine version, and the wrapper itself,
# which creates the coroutine, enters it and polls the event loop until it
# has finished.  co_wrapper is a no_coroutine_fn (it asserts it is not
# called in a coroutine); co_wrapper_mixed calls the coroutine version
# directly when it already runs in one.
#
# The marker, the return type and the name must be on one line; the
# parameters may span several.  Parameters must be plain "type name"
# pairs (no function pointers, no varargs).
#
# Usage: block-coroutine-wrapper.py OUTPUT.c SRCDIR HEADER...
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import re
import sys

DECL_RE = re.compile(
    r'^(?P<ret>[A-Za-z_][\w \t\*]*?)[ \t]*\b(?P<marker>co_wrapper(?:_mixed)?)'
    r'[ \t]+(?P<name>[A-Za-z_]\w*)[ \t]*\((?P<params>[^()]*)\)[ \t]*;',
    re.M)
COMMENT_RE = re.compile(r'/\*.*?\*/', re.S)
PARAM_RE = re.compile(r'^(?P<type>.*?[\s\*])(?P<name>[A-Za-z_]\w*)$')


class Wrapper:
    def __init__(self, header, ret, marker, name, params):
        self.header = header
        self.ret = ' '.join(ret.split())
        self.mixed = marker == 'co_wrapper_mixed'
        self.name = name
        prefix, sep, rest = name.partition('_')
        if not sep or not rest:
            sys.exit('%s: cannot derive the coroutine name of %s'
                     % (header, name))
        self.co_name = prefix + '_co_' + rest
        self.params = parse_params(header, name, params)
        self.struct = ''.join(w.capitalize() for w in name.split('_')) + 'Co'
        self.entry = name + '_entry'

    def returns(self):
        return self.ret != 'void'


def parse_params(header, name, text):
    text = ' '.join(text.split())
    if text in ('', 'void'):
        return []
    params = []
    for p in text.split(','):
        p = p.strip()
        m = PARAM_RE.match(p)
        if not m or '(' in p or p == '...':
            sys.exit('%s: %s: cannot parse parameter "%s"'
                     % (header, name, p))
        params.append((' '.join(m.group('type').split()), m.group('name')))
    return params


def declaration(ptype, pname):
    # "int64_t *pnum", "BlockDriverState **file", "int64_t offset"
    if ptype.endswith('*'):
        return ptype + pname
    return ptype + ' ' + pname


def signature(w):
    # One parameter per line, aligned after the "(", when it is too long
    head = '%s %s(' % (w.ret, w.name)
    params = [declaration(t, n) for t, n in w.params] or ['void']
    line = head + ', '.join(params) + ')'
    if len(line) <= 80:
        return line
    return head + (',\n' + ' ' * len(head)).join(params) + ')'


def call(indent, prefix, fn, args):
    # "prefix fn(args);" at @indent, arguments wrapped under the "("
    head = ' ' * indent + prefix + fn + '('
    line = head + ', '.join(args) + ');'
    if len(line) <= 80 or not args:
        return [line]
    lines = [head]
    for a in args:
        if len(lines[-1]) + len(a) + 2 > 80 and lines[-1] != head:
            lines[-1] = lines[-1].rstrip()
            lines.append(' ' * len(head))
        lines[-1] += a + ', '
    lines[-1] = lines[-1][:-2] + ');'
    return lines


def gen_wrapper(w):
    out = []
    out.append('/* %s: %s */' % (w.name, os.path.basename(w.header)))
    out.append('typedef struct %s {' % w.struct)
    for ptype, pname in w.params:
        out.append('    %s;' % declaration(ptype, pname))
    if w.returns():
        out.append('    %s;' % declaration(w.ret, 'ret'))
    out.append('    bool done;')
    out.append('} %s;' % w.struct)
    out.append('')
    out.append('static void coroutine_fn %s(void *opaque)' % w.entry)
    out.append('{')
    out.append('    %s *s = opaque;' % w.struct)
    out.append('')
    out += call(4, 's->ret = ' if w.returns() else '', w.co_name,
                ['s->' + n for _, n in w.params])
    out.append('    s->done = true;')
    out.append('    aio_notify(qemu_get_aio_context());')
    out.append('}')
    out.append('')
    out.append(signature(w))
    out.append('{')
    out.append('    %s s = {' % w.struct)
    for _, n in w.params:
        out.append('        .%s = %s,' % (n, n))
    out.append('    };')
    out.append('    Coroutine *co;')
    out.append('')
    if w.mixed:
        out.append('    if (qemu_in_coroutine()) {')
        out.append('        qemu_coroutine_assert_context();')
        direct = call(8, 'return ' if w.returns() else '', w.co_name,
                      [n for _, n in w.params])
        out += direct
        if not w.returns():
            out.append('        return;')
        out.append('    }')
    else:
        out.append('    assert(!qemu_in_coroutine());')
    out.append('    co = qemu_coroutine_create(%s, &s);' % w.entry)
    out.append('    qemu_coroutine_enter(co);')
    out.append('    AIO_WAIT_WHILE(NULL, !s.done);')
    if w.returns():
        out.append('    return s.ret;')
    out.append('}')
    return '\n'.join(out)


def include_name(srcdir, path):
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(srcdir))
    if rel.startswith('include' + os.sep):
        rel = rel[len('include' + os.sep):]
    return rel.replace(os.sep, '/')


def main(argv):
    if len(argv) < 4:
        sys.exit('usage: %s OUTPUT.c SRCDIR HEADER...' % argv[0])
    output, srcdir, headers = argv[1], argv[2], argv[3:]
    wrappers = []
    for h in headers:
        with open(h, encoding='utf-8') as f:
            text = COMMENT_RE.sub(' ', f.read())
        found = [Wrapper(h, m.group('ret'), m.group('marker'),
                         m.group('name'), m.group('params'))
                 for m in DECL_RE.finditer(text)]
        if not found:
            sys.exit('%s: no co_wrapper declarations' % h)
        wrappers += found

    parts = [
        '/*',
        ' * Synchronous wrappers, generated by '
        'scripts/block-coroutine-wrapper.py',
        ' * from the co_wrapper declarations in:',
    ]
    parts += [' *   %s' % include_name(srcdir, h) for h in headers]
    parts += [
        ' * Do not edit.',
        ' */',
        '',
        '#include "qemu/osdep.h"',
        '#include "qemu/coroutine.h"',
        '#include "qemu/aio.h"',
    ]
    parts += ['#include "%s"' % include_name(srcdir, h) for h in headers]
    text = '\n'.join(parts) + '\n'
    for w in wrappers:
        text += '\n' + gen_wrapper(w) + '\n'

    tmp = output + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(text)
    os.replace(tmp, output)


if __name__ == '__main__':
    main(sys.argv)
