# Rewrites the CUDA kernel sources into C++ the CPU emulator (emu.h) compiles; run by CMake at build time.
# Usage: gen.py SOURCE_ROOT OUT_DIR
#   K<<<grid, block[, smem[, stream]]>>>(args)  ->  ::emu::Launch(grid, block, smem, stream, [&] { K(args); })
#     (with dynamic shared memory, also the kernel's address: the key of cudaFuncSetAttribute)
#   __shared__ T name[...][, name2[...]...];  ->  static T name[...]; ::emu::Shared(name, sizeof(name)); ...
#     (poisoned per block)
#   extern __shared__ [__align__(16)] T name[];  ->  T* name = static_cast<T*>(::emu::DynamicShared());
#   asm [volatile](PTX : outputs : inputs : clobbers);  ->  ::emu::ptx::F(outputs..., inputs...);  where F
#     emulates that instruction (tests/emu/ptx.h; the PTX table below), so the wrappers around it run as written
# Every .cuh the emulated kernels include is rewritten into OUT_DIR/kernels/cuda/ (which the tests put
# before the source root on the include path); each .cu becomes OUT_DIR/kernels/cuda/<name>.cu.inc for a
# test to include, matmul.cu only its ColumnSum part (cuBLASLt is not emulated). Line numbers are kept and
# #line directives name the original files, so compiler and sanitizer messages point at the real source.
# A file is written only when its text changes, so editing one kernel rebuilds only the tests that use it.
import os
import re
import sys

HEADERS = ['elementwise.cuh', 'warp_reduce.cuh', 'runtime.cuh', 'hopper.cuh']
KERNELS = ['layernorm.cu', 'adamw.cu', 'copy.cu', 'drop_path.cu', 'fused_attention.cu', 'binary.cu', 'reduce.cu',
           'unary.cu', 'normalize_images.cu', 'nonfinite.cu', 'softmax.cu', 'l2norm.cu', 'tokens.cu',
           'resize_bicubic.cu', 'patch_embed.cu']
# Kernels written for the tests themselves (tests/emu/<name> -> OUT_DIR/tests/emu/<name>.inc).
TEST_KERNELS = ['wgmma_gemm.cu']

# The inline asm tests/emu/ptx.h emulates: instruction text (whitespace collapsed) -> the emulating function and
# the operand constraints it is written for (an asm that differs in either is an error, not a guess), and how
# many leading operands it takes as one list of pointers (wgmma's N / 2 accumulators).
PTX = {
    'cp.async.cg.shared.global [%0], [%1], 16, %2;': ('CpAsyncCg16', 'r l r'),
    'cp.async.commit_group;': ('CpAsyncCommitGroup', ''),
    'cp.async.wait_group %0;': ('CpAsyncWaitGroup', 'n'),
    'ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];': ('LdmatrixX4', '=r =r =r =r r'),
    'ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];': ('LdmatrixX4Trans', '=r =r =r =r r'),
    'mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, '
    '{%0, %1, %2, %3};': ('MmaM16N8K16Bf16', '+f +f +f +f r r r r r r'),
    'ex2.approx.ftz.f32 %0, %1;': ('Ex2ApproxFtz', '=f f'),
    'wgmma.fence.sync.aligned;': ('WgmmaFence', ''),
    'wgmma.commit_group.sync.aligned;': ('WgmmaCommitGroup', ''),
    'wgmma.wait_group.sync.aligned %0;': ('WgmmaWaitGroup', 'n'),
    'mbarrier.init.shared::cta.b64 [%0], %1;': ('MbarrierInit', 'r r'),
    'mbarrier.arrive.shared::cta.b64 _, [%0];': ('MbarrierArrive', 'r'),
    'mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;': ('MbarrierArriveExpectTx', 'r r'),
    '{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }':
        ('MbarrierTryWaitParity', '=r r r'),
    'fence.proxy.async.shared::cta;': ('FenceProxyAsync', ''),
    'cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];':
        ('CpAsyncBulkTensor2d', 'r l r r r'),
}


def add_wgmma():
    """wgmma.mma_async m64nNk16, bf16 in, f32 accumulators: A from shared memory (a descriptor) or from four
    registers, B from a descriptor, scale-d as a predicate set from an int, imm-trans-a / imm-trans-b (K-major
    or MN-major operands in shared memory) as immediates."""
    for n in range(8, 257, 8):
        acc = n // 2
        d = '{' + ', '.join(f'%{i}' for i in range(acc)) + '}'
        op = f'wgmma.mma_async.sync.aligned.m64n{n}k16.f32.bf16.bf16'
        PTX[f'{{ .reg .pred p; setp.ne.b32 p, %{acc + 2}, 0; {op} {d}, %{acc}, %{acc + 1}, p, 1, 1, %{acc + 3}, '
            f'%{acc + 4}; }}'] = ('WgmmaSS', ' '.join(['+f'] * acc + ['l', 'l', 'r', 'n', 'n']), acc)
        a = '{' + ', '.join(f'%{acc + i}' for i in range(4)) + '}'
        PTX[f'{{ .reg .pred p; setp.ne.b32 p, %{acc + 5}, 0; {op} {d}, {a}, %{acc + 4}, p, 1, 1, %{acc + 6}; }}'] = (
            'WgmmaRS', ' '.join(['+f'] * acc + ['r'] * 4 + ['l', 'r', 'n']), acc)


add_wgmma()


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
        kernel = '' if cfg[2] == '0' else f', reinterpret_cast<const void*>(&{name})'
        new = f'::emu::Launch({", ".join(cfg)}, [&] {{ {name}({s[p + 1:q]}); }}{kernel})'
        new += '\n' * (s[j + 1:q + 1].count('\n') - new.count('\n'))  # the line breaks of <<<...>>>
        s = s[:j + 1] + new + s[q + 1:]


SHARED = re.compile(r'__shared__\s+(\w+)\s+(\w+\s*(?:\[[^\]]*\]\s*)+(?:,\s*\w+\s*(?:\[[^\]]*\]\s*)+)*);')
# The emulator's dynamic shared memory is 16-byte aligned: a kernel that asks for more is not handled.
EXTERN_SHARED = re.compile(r'extern\s+__shared__\s+(?:__align__\(\s*(?:1|2|4|8|16)\s*\)\s+)?(\w+(?:\s+\w+)*?)\s+(\w+)'
                           r'\s*\[\s*\]\s*;')
ASM = re.compile(r'(?:^|(?<=[{;]))[ \t]*(asm(?:\s+volatile)?\s*\()', re.M)  # a statement, not a comment


def skip_literal(s, i):
    """Index just past the string or character literal that starts at s[i]."""
    q, i = s[i], i + 1
    while s[i] != q:
        i += 2 if s[i] == '\\' else 1
    return i + 1


def split_outside(s, sep):
    """Splits s at each sep that is outside string literals and parentheses."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(s):
        if s[i] in '"\'':
            i = skip_literal(s, i)
            continue
        if s[i] in '([':
            depth += 1
        elif s[i] in ')]':
            depth -= 1
        elif s[i] == sep and depth == 0:
            parts.append(s[start:i])
            start = i + 1
        i += 1
    return parts + [s[start:]]


def rewrite_asm(s, what):
    """Each asm statement -> the call of its emulation in tests/emu/ptx.h (the PTX table)."""
    while True:
        m = ASM.search(s)
        if not m:
            if re.search(r'\basm\b(\s+volatile)?\s*\(', re.sub(r'//[^\n]*|/\*.*?\*/', '', s, flags=re.S)):
                raise ValueError(f'{what}: an asm that is not a statement of its own (gen.py rewrites only those)')
            return s
        start, depth, i = m.start(1), 1, m.end()  # to the ')' that closes asm(
        while depth:
            if s[i] in '"\'':
                i = skip_literal(s, i)
                continue
            depth += {'(': 1, ')': -1}.get(s[i], 0)
            i += 1
        sections = split_outside(s[m.end():i - 1], ':')
        text = ''.join(re.findall(r'"((?:[^"\\]|\\.)*)"', sections[0]))  # adjacent literals concatenate
        text = ' '.join(text.replace('\\n', ' ').replace('\\t', ' ').split())
        operands = []
        for section in sections[1:3]:
            for op in split_outside(section, ','):
                if op.strip():
                    c = re.fullmatch(r'\s*"([^"]*)"\s*\((.*)\)\s*', op, re.S)
                    if not c:
                        raise ValueError(f'{what}: asm operand "{op.strip()}" is not "constraint"(expression)')
                    operands.append((c.group(1), c.group(2).strip()))
        if text not in PTX:
            raise ValueError(f'{what}: inline asm "{text}" is not emulated (add it to PTX in tests/emu/gen.py and '
                             'tests/emu/ptx.h)')
        func, constraints, grouped = (PTX[text] + (0,))[:3]
        if ' '.join(c for c, _ in operands) != constraints:
            raise ValueError(f'{what}: the operands of "{text}" are not the "{constraints}" tests/emu/ptx.h emulates')
        args = [e for _, e in operands]
        if grouped:
            args = ['{' + ', '.join(f'&({e})' for e in args[:grouped]) + '}'] + args[grouped:]
        new = f'::emu::ptx::{func}({", ".join(args)})'
        s = s[:start] + new + '\n' * s[start:i].count('\n') + s[i:]


def rewrite(s, what):
    s = rewrite_launches(s)
    s = SHARED.sub(lambda m: ' '.join(f'static {m.group(1)} {d.strip()}; ::emu::Shared({d.split("[")[0].strip()}, '
                                      f'sizeof({d.split("[")[0].strip()}));' for d in split_top(m.group(2))), s)
    s = EXTERN_SHARED.sub(r'\1* \2 = static_cast<\1*>(::emu::DynamicShared());', s)
    if '__shared__' in s:
        raise ValueError(f'{what}: a __shared__ declaration gen.py does not handle (not an array, or aligned to '
                         'more than 16 bytes)')
    return rewrite_asm(s, what)


def line_of(path, text, i):
    """A #line directive for text[i:], text being the file at path."""
    line = text.count('\n', 0, i) + 1
    return f'#line {line} "{path}"\n'


def column_sum_part(path, g):
    """matmul.cu's ColumnSum kernels, ColumnSumScratchBytes, ColumnSum and its instantiations."""
    def at(marker, start=0):
        i = g.find(marker, start)
        if i < 0:
            raise ValueError(f'matmul.cu: "{marker}" not found (update column_sum_part in tests/emu/gen.py)')
        return i
    kernels = at('// ---- ColumnSum')
    kernels_end = at('}  // namespace', kernels)  # the end of the anonymous namespace
    host = at('size_t ColumnSumScratchBytes')
    host_end = at('template void Gemm<float, float>')
    inst = at('template void ColumnSum<float, float>')
    inst_end = at('}  // namespace vfm::cuda')
    return ('#include "kernels/cuda/matmul.h"\n\n#include <algorithm>\n\n#include "kernels/cuda/elementwise.cuh"\n'
            '#include "kernels/cuda/warp_reduce.cuh"\n#include "kernels/cuda/runtime.cuh"\n\n'
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
        text = rewrite(read(name), name)
        ptx = '#include "tests/emu/ptx.h"\n' if '::emu::ptx::' in text else ''
        return ptx + f'#line 1 "{os.path.join(src, name)}"\n' + text
    for name in HEADERS:
        write_if_changed(os.path.join(out, name), whole(name))
    for name in KERNELS:
        write_if_changed(os.path.join(out, name + '.inc'), whole(name))
    for name in TEST_KERNELS:
        path = os.path.join(os.path.abspath(sys.argv[1]), 'tests', 'emu', name)
        with open(path) as f:
            text = rewrite(f.read(), name)
        write_if_changed(os.path.join(sys.argv[2], 'tests', 'emu', name + '.inc'),
                         '#include "tests/emu/ptx.h"\n' + f'#line 1 "{path}"\n' + text)
    matmul = os.path.join(src, 'matmul.cu')
    write_if_changed(os.path.join(out, 'matmul_column_sum.cu.inc'),
                     rewrite(column_sum_part(matmul, read('matmul.cu')), 'matmul.cu'))


if __name__ == '__main__':
    main()
