# Checks autograd/README.md's table of ops against the tree (DESIGN.md, "one name, one hop"): every file
# it lists exists, every file of the op folders is listed somewhere, and a file named after an op (X.cc,
# X.h, X.cu, X_test.cc) is in that op's row. Usage: python3 op_table_test.py SOURCE_ROOT
import os
import re
import sys

FOLDERS = ['autograd/ops', 'kernels/cpu', 'kernels/cuda', 'tests/ops', 'tests/gpu', 'tests/emu']
EXEMPT = {'autograd/ops/common.cc', 'autograd/ops/common.h', 'tests/emu/emu.h', 'tests/emu/harness.h',
          'tests/emu/ptx.h', 'tests/emu/gen.py', 'tests/emu/README.md', 'tests/ops/op_table_test.py'}


def rows(readme):
    """(op, {folder: [files]}) of the op table, and the files named in the 'not ops' table."""
    ops, others = [], set()
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) == 8 and cells[0] not in ('op', '---'):
            ops.append((cells[0], {f: [x.strip() for x in c.split(',') if x.strip() != '-']
                                   for f, c in zip(FOLDERS, cells[2:])}))
        elif len(cells) == 2 and cells[0] not in ('what', '---'):
            others.update(x.strip() for x in cells[1].split(','))
    return ops, others


def main():
    root = sys.argv[1]
    ops, others = rows(open(os.path.join(root, 'autograd/README.md')).read())
    errors, listed = [], set(others)
    if len(ops) < 10:
        errors.append(f'only {len(ops)} rows parsed from the op table')
    names = {op for op, _ in ops}
    for op, cells in ops:
        for folder, files in cells.items():
            for f in files:
                path = f'{folder}/{f}'
                listed.add(path)
                if not os.path.exists(os.path.join(root, path)):
                    errors.append(f'{op}: {path} is listed but does not exist')
    for folder in FOLDERS:
        for f in sorted(os.listdir(os.path.join(root, folder))):
            path = f'{folder}/{f}'
            if os.path.isdir(os.path.join(root, path)) or path in EXEMPT or f == 'CMakeLists.txt':
                continue
            if path not in listed:
                errors.append(f'{path} is in no row of the table')
            stem = re.sub(r'(_test)?\.(cc|h|cu|cuh)$', '', f)
            if stem in names and path not in [f'{d}/{x}' for d, xs in dict(ops)[stem].items() for x in xs]:
                errors.append(f'{path} is named after the op {stem} but not in its row')
    for e in errors:
        print('op table:', e)
    print(f'op table: {len(ops)} ops, {len(listed)} files checked, {len(errors)} problems')
    sys.exit(1 if errors else 0)


if __name__ == '__main__':
    main()
