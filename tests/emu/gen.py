# Rewrites the CUDA kernel sources into C++ the CPU emulator (emu.h) compiles; run by CMake at build time.
# Usage: gen.py SOURCE_ROOT OUT_DIR
#   K<<<grid, block[, smem[, stream]]>>>(args)  ->  ::emu::Launch(grid, block, smem, stream, [&] { K(args); })
#   __shared__ T name[...];  ->  static T name[...]; ::emu::Shared(name, sizeof(name));  (poisoned per block)
# Every .cuh the emulated kernels include is rewritten into OUT_DIR/kernels/cuda/ (which the tests put
# before the source root on the include path); each .cu becomes OUT_DIR/kernels/cuda/<name>.cu.inc for a
# test to include, gemm.cu only its ColumnSum part (cuBLASLt is not emulated). Line numbers are kept and
# #line directives name the original files, so compiler and sanitizer messages point at the real source.
# A file is written only when its text changes, so editing one kernel rebuilds only the tests that use it.
import os
import re
import sys

HEADERS = ['elementwise.cuh', 'reduce.cuh', 'runtime.cuh']
KERNELS = ['layernorm.cu', 'adamw.cu', 'copy.cu', 'drop_path.cu']


def match_back(s, i):
    """Index of the '<' matching the '>' at s[i] (the template arguments of a launched kernel)."""
    depth = 0
    while i >= 0:
        if s[i] == '>':
            depth += 1
        elif s[i] == '<':
            depth -= 1
            if depth == 0:
                return i
        i -= 1
    raise ValueError('unbalanced template arguments before <<<')


def split_top(s):
    """Splits a launch configuration at its top-level commas."""
    parts, depth, cur = [], 0, ''
    for ch in s:
        if ch in '([{<':
            depth += 1
        elif ch in ')]}>':
            depth -= 1
        if ch == ',' and depth == 0:
            parts.append(cur)
            cur = ''
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def rewrite_launches(s):
    while True:
        i = s.find('<<<')
        if i < 0:
            return s
        j = i - 1  # back over the kernel name and its template arguments
        while s[j].isspace():
            j -= 1
        if s[j] == '>':
            j = match_back(s, j) - 1
        while j >= 0 and (s[j].isalnum() or s[j] in '_:'):
            j -= 1
        name = s[j + 1:i].strip()
        k = s.index('>>>', i)
        p = k + 3
        while s[p].isspace():
            p += 1
        if s[p] != '(':
            raise ValueError(f'no argument list after the launch of {name}')
        depth, q = 0, p
        while True:
            if s[q] == '(':
                depth += 1
            elif s[q] == ')':
                depth -= 1
                if depth == 0:
                    break
            q += 1
        cfg = split_top(s[i + 3:k])
        cfg += ['0', 'nullptr'][len(cfg) - 2:]  # shared memory bytes and stream default to 0 and nullptr
        new = f'::emu::Launch({", ".join(cfg)}, [&] {{ {name}({s[p + 1:q]}); }})'
        new += '\n' * (s[j + 1:q + 1].count('\n') - new.count('\n'))  # the line breaks of <<<...>>>
        s = s[:j + 1] + new + s[q + 1:]


SHARED = re.compile(r'__shared__\s+(\w+)\s+(\w+)\s*((?:\[[^\]]*\])+)\s*;')


def rewrite(s, what):
    s = rewrite_launches(s)
    s = SHARED.sub(r'static \1 \2\3; ::emu::Shared(\2, sizeof(\2));', s)
    if '__shared__' in s:
        raise ValueError(f'{what}: a __shared__ declaration gen.py does not handle (extern, or not an array)')
    return s


def line_of(path, text, i):
    """A #line directive for text[i:], text being the file at path."""
    line = text.count('\n', 0, i) + 1
    return f'#line {line} "{path}"\n'


def column_sum_part(path, g):
    """gemm.cu's ColumnSum kernels, ColumnSumScratchBytes, ColumnSum and its instantiations."""
    def at(marker, start=0):
        i = g.find(marker, start)
        if i < 0:
            raise ValueError(f'gemm.cu: "{marker}" not found (update column_sum_part in tests/emu/gen.py)')
        return i
    kernels = at('// ---- ColumnSum')
    kernels_end = at('}  // namespace', kernels)  # the end of the anonymous namespace
    host = at('size_t ColumnSumScratchBytes')
    host_end = at('template void Gemm<float, float>')
    inst = at('template void ColumnSum<float, float>')
    inst_end = at('}  // namespace vfm::cuda')
    return ('#include "kernels/cuda/gemm.h"\n\n#include <algorithm>\n\n#include "kernels/cuda/elementwise.cuh"\n'
            '#include "kernels/cuda/reduce.cuh"\n#include "kernels/cuda/runtime.cuh"\n\n'
            'namespace vfm::cuda {\nnamespace {\n' + line_of(path, g, kernels) + g[kernels:kernels_end]
            + '}  // namespace\n' + line_of(path, g, host) + g[host:host_end] + line_of(path, g, inst)
            + g[inst:inst_end] + '}  // namespace vfm::cuda\n')


def write_if_changed(path, text):
    if os.path.exists(path):
        with open(path) as f:
            if f.read() == text:
                return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        f.write(text)
    os.replace(path + '.tmp', path)


def main():
    if len(sys.argv) != 3:
        sys.exit('usage: gen.py SOURCE_ROOT OUT_DIR')
    src = os.path.join(os.path.abspath(sys.argv[1]), 'kernels', 'cuda')
    out = os.path.join(sys.argv[2], 'kernels', 'cuda')

    def read(name):
        with open(os.path.join(src, name)) as f:
            return f.read()

    def whole(name):
        return f'#line 1 "{os.path.join(src, name)}"\n' + rewrite(read(name), name)
    for name in HEADERS:
        write_if_changed(os.path.join(out, name), whole(name))
    for name in KERNELS:
        write_if_changed(os.path.join(out, name + '.inc'), whole(name))
    gemm = os.path.join(src, 'gemm.cu')
    write_if_changed(os.path.join(out, 'gemm_column_sum.cu.inc'),
                     rewrite(column_sum_part(gemm, read('gemm.cu')), 'gemm.cu'))


if __name__ == '__main__':
    main()
